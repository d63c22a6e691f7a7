import { Server, ServerCredentials, credentials, makeGenericClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { Metadata } from '../../operators/core/callMetadata.js';
import { connect, createServer, type ClientHttp2Session } from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncScheduler, lastValueFrom, of } from 'rxjs';
import { GrpcServer } from '../../streams/grpc/server.js';
import { ClientChannel } from '../../streams/grpc/clientChannel.js';
import { unixUrl } from '../../operators/tools/nsmUrl.js';
import { measure, type BenchResult } from './stats.js';

/**
 * What the transport alone costs a local Request+Close: its 8 gRPC exchanges (Request and Close
 * through nsc → nsmgr → forwarder → NSE: 6 unary calls, and the 2 MonitorConnections streams
 * the nsmgr and the forwarder open toward their next hop, each answered with one message and
 * ended by the server) between a client and a server in this process over a unix socket, with
 * 1 KiB messages, handlers that echo and no protobuf, chain or security: through grpc-js on
 * both ends; through nsm-rx's own client and server (what nsm-rx uses); and as bare HTTP/2
 * requests of node:http2 with gRPC's framing. It is the floor under the in-process
 * Request+Close figures.
 */
export async function transportFloorBenchmarks(quick: boolean): Promise<[grpcJs: BenchResult, own: BenchResult, http2: BenchResult]> {
  const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-bench-floor-'));
  try {
    const grpc = await grpcJsFloor(join(dir, 'grpc.sock'), quick);
    const own = await ownFloor(join(dir, 'own.sock'), quick);
    const http2 = await http2Floor(join(dir, 'h2.sock'), quick);
    return [
      grpc,
      { ...own, extra: { 'grpc-js/own p50': Number((grpc.p50Ms / own.p50Ms).toFixed(2)) } },
      { ...http2, extra: { 'grpc-js/node:http2 p50': Number((grpc.p50Ms / http2.p50Ms).toFixed(2)) } },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const MESSAGE = Buffer.alloc(1024, 7);
const same = (b: Buffer): Buffer => b;
const method = (path: string, responseStream: boolean) => ({
  path,
  requestStream: false,
  responseStream,
  requestSerialize: same,
  requestDeserialize: same,
  responseSerialize: same,
  responseDeserialize: same,
});
const echo = { unary: method('/floor.Floor/Unary', false), stream: method('/floor.Floor/Stream', true) } satisfies ServiceDefinition;

/** The 8 exchanges in a Request+Close's order: 3 unary, 2 streams, 3 unary. */
async function requestClose(unary: () => Promise<unknown>, stream: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 3; i++) await unary();
  await stream();
  await stream();
  for (let i = 0; i < 3; i++) await unary();
}

/** The exchanges through grpc-js on both ends. */
async function grpcJsFloor(socket: string, quick: boolean): Promise<BenchResult> {
  const server = new Server();
  server.addService(echo, {
    unary: (call: { request: Buffer }, done: (err: null, answer: Buffer) => void) => done(null, call.request),
    stream: (call: { request: Buffer; write(m: Buffer): void; end(): void }) => {
      call.write(call.request);
      call.end();
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  const client = new (makeGenericClientConstructor(echo, 'Floor'))(`unix://${socket}`, credentials.createInsecure());
  const unary = () => new Promise((resolve, reject) => client.makeUnaryRequest(echo.unary.path, same, same, MESSAGE, (err, answer) => (err ? reject(err) : resolve(answer))));
  const stream = () =>
    new Promise((resolve, reject) => {
      const call = client.makeServerStreamRequest(echo.stream.path, same, same, MESSAGE);
      call.on('data', () => undefined);
      call.on('error', reject);
      call.on('end', resolve);
    });
  try {
    return await measure('transport floor: the 8 gRPC exchanges of a local Request+Close through grpc-js (client and server), one process, no chain', quick ? 500 : 3000, 500, () => requestClose(unary, stream));
  } finally {
    client.close();
    server.forceShutdown();
  }
}

/** The same over nsm-rx's ClientChannel and GrpcServer. */
async function ownFloor(socket: string, quick: boolean): Promise<BenchResult> {
  const server = new GrpcServer().serve('floor.Floor', echo, { unary: (m: Buffer) => of(m), stream: (m: Buffer) => of(m) });
  await server.listen([`unix://${socket}`]);
  const channel = new ClientChannel(unixUrl(socket));
  const settings = { metadata: new Metadata(), scheduler: asyncScheduler };
  const unary = () => lastValueFrom(channel.call(echo.unary, { one: MESSAGE }, settings));
  const stream = () => lastValueFrom(channel.call(echo.stream, { one: MESSAGE }, settings));
  try {
    return await measure("transport floor: the same 8 exchanges through nsm-rx's client and server", quick ? 500 : 3000, 500, () => requestClose(unary, stream));
  } finally {
    channel.close();
    await server.kill();
  }
}

async function http2Floor(socket: string, quick: boolean): Promise<BenchResult> {
  const framed = Buffer.concat([Buffer.from([0, 0, 0, MESSAGE.length >> 8, MESSAGE.length & 0xff]), MESSAGE]);
  const server = createServer();
  server.on('stream', (stream) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  const session: ClientHttp2Session = connect('http://localhost', { createConnection: () => netConnect(socket) });
  const exchange = () =>
    new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': echo.unary.path, 'content-type': 'application/grpc', te: 'trailers' });
      req.on('data', () => undefined);
      req.on('end', resolve);
      req.on('error', reject);
      req.end(framed);
    });
  try {
    return await measure('transport floor: the same 8 exchanges as bare node:http2 requests with gRPC framing', quick ? 500 : 3000, 500, () => requestClose(exchange, exchange));
  } finally {
    session.close();
    await new Promise((resolve) => server.close(resolve));
  }
}

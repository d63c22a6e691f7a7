import { Server, ServerCredentials, credentials, makeGenericClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { connect, createServer, type ClientHttp2Session } from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { of } from 'rxjs';
import { GrpcServer } from '../../streams/grpc/server.js';
import { measure, type BenchResult } from './stats.js';

/**
 * What the transport alone costs a local Request+Close: its 8 gRPC exchanges (Request and Close
 * through nsc → nsmgr → forwarder → NSE: 6 unary calls, and the 2 MonitorConnections streams
 * the nsmgr and the forwarder open toward their next hop, each answered with one message and
 * ended by the server) between a client and a server in this process over a unix socket, with
 * 1 KiB messages, handlers that echo and no protobuf, chain or security: through grpc-js on
 * both ends; through a grpc-js client and nsm-rx's own server (what nsm-rx uses); and as bare
 * HTTP/2 requests of node:http2 with gRPC's framing. It is the floor under the in-process
 * Request+Close figures.
 */
export async function transportFloorBenchmarks(quick: boolean): Promise<[grpcJs: BenchResult, ownServer: BenchResult, http2: BenchResult]> {
  const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-bench-floor-'));
  try {
    const grpc = await grpcJsClientFloor('through grpc-js (client and server)', join(dir, 'grpc.sock'), quick, grpcJsServer);
    const own = await grpcJsClientFloor("through a grpc-js client and nsm-rx's server", join(dir, 'own.sock'), quick, ownServer);
    const http2 = await http2Floor(join(dir, 'h2.sock'), quick);
    return [
      grpc,
      { ...own, extra: { 'grpc-js server/own server p50': Number((grpc.p50Ms / own.p50Ms).toFixed(2)) } },
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

/** The echo service on grpc-js's server; resolves to its stop. */
async function grpcJsServer(socket: string): Promise<() => void> {
  const server = new Server();
  server.addService(echo, {
    unary: (call: { request: Buffer }, done: (err: null, answer: Buffer) => void) => done(null, call.request),
    stream: (call: { request: Buffer; write(m: Buffer): void; end(): void }) => {
      call.write(call.request);
      call.end();
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return () => server.forceShutdown();
}

/** The echo service on nsm-rx's GrpcServer; resolves to its stop. */
async function ownServer(socket: string): Promise<() => void> {
  const server = new GrpcServer().serve('floor.Floor', echo, { unary: (m: Buffer) => of(m), stream: (m: Buffer) => of(m) });
  await server.listen([`unix://${socket}`]);
  return () => void server.kill();
}

async function grpcJsClientFloor(how: string, socket: string, quick: boolean, serve: (socket: string) => Promise<() => void>): Promise<BenchResult> {
  const stop = await serve(socket);
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
    return await measure(`transport floor: the 8 gRPC exchanges of a local Request+Close ${how}, one process, no chain`, quick ? 500 : 3000, 500, () => requestClose(unary, stream));
  } finally {
    client.close();
    stop();
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

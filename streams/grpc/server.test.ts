import { connect, createServer, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { status } from '../../operators/core/status.js';
import { type Metadata } from '../../operators/core/callMetadata.js';
import { asyncScheduler, NEVER, of } from 'rxjs';
import { finalize } from 'rxjs/operators';
import { afterEach, describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { HealthCheckRequest, HealthCheckResponse, HealthCheckResponse_ServingStatus as Serving, HealthService } from '../../proto/gen/health.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { ConnectionMonitor } from '../monitorConnections.js';
import { serveNetworkService } from './networkService.js';
import { incomingCallKey } from './serve.js';
import { GrpcServer } from './server.js';
import { Http2ServedCall } from './serverCall.js';
import { lengthPrefixed, MessageReader } from './wire.js';

/** What came back on one raw HTTP/2 exchange. */
interface Exchange {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  messages: Buffer[];
}

const servers: GrpcServer[] = [];
const sessions: ClientHttp2Session[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.close();
  await Promise.all(servers.splice(0).map((s) => s.stop(100)));
});

async function server(setup: (s: GrpcServer) => void = () => undefined): Promise<ClientHttp2Session> {
  const s = new GrpcServer();
  setup(s);
  const [url] = await s.listen(['tcp://127.0.0.1:0']);
  servers.push(s);
  const session = connect(`http://127.0.0.1:${url?.scheme === 'tcp' ? url.port : 0}`);
  sessions.push(session);
  return session;
}

/** One call as any gRPC client would send it, read at the HTTP/2 level. */
function exchange(session: ClientHttp2Session, path: string, body: Buffer, headers: OutgoingHttpHeaders = {}): Promise<Exchange> {
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
  const reader = new MessageReader(1 << 20);
  const got: Exchange = { headers: {}, trailers: {}, messages: [] };
  stream.on('response', (h) => (got.headers = h));
  stream.on('trailers', (t) => (got.trailers = t));
  stream.on('data', (chunk: Buffer) => got.messages.push(...reader.push(chunk)));
  stream.end(body);
  return new Promise((resolve, reject) => {
    stream.on('close', () => resolve(got));
    stream.on('error', reject);
  });
}

/** grpc-status and grpc-message, from trailers or (trailers-only) headers. */
const statusOf = (e: Exchange) => {
  const t = e.trailers['grpc-status'] === undefined ? e.headers : e.trailers;
  return { code: Number(t['grpc-status']), message: decodeURIComponent(String(t['grpc-message'] ?? '')) };
};

const check = lengthPrefixed(HealthCheckRequest.encode({ service: '' }).finish());

describe('gRPC server over HTTP/2', () => {
  it('answers with application/grpc headers, the length-prefixed message and grpc-status 0 in trailers', async () => {
    const got = await exchange(await server(), '/grpc.health.v1.Health/Check', check);
    expect(got.headers[':status']).toBe(200);
    expect(got.headers['content-type']).toBe('application/grpc');
    expect(got.messages.map((m) => HealthCheckResponse.decode(m).status)).toEqual([Serving.SERVING]);
    expect(got.trailers['grpc-status']).toBe('0');
  });

  it('refuses with a status, in headers alone: an unknown method (UNIMPLEMENTED), a compressed message (UNIMPLEMENTED), a malformed grpc-timeout (INTERNAL)', async () => {
    const session = await server();
    expect(statusOf(await exchange(session, '/nsm.Nothing/Here', check))).toEqual({ code: status.UNIMPLEMENTED, message: 'unknown method /nsm.Nothing/Here' });
    const compressed = Buffer.from(check);
    compressed[0] = 1;
    const refused = await exchange(session, '/grpc.health.v1.Health/Check', compressed, { 'grpc-encoding': 'gzip' });
    expect(statusOf(refused)).toEqual({ code: status.UNIMPLEMENTED, message: 'compressed messages are not accepted (grpc-accept-encoding: identity)' });
    expect(statusOf(await exchange(session, '/grpc.health.v1.Health/Check', check, { 'grpc-timeout': 'soon' }))).toEqual({
      code: status.INTERNAL,
      message: '/grpc.health.v1.Health/Check: invalid grpc-timeout "soon"',
    });
  });

  it('answers what is not gRPC with HTTP 415', async () => {
    const got = await exchange(await server(), '/grpc.health.v1.Health/Check', check, { 'content-type': 'text/plain' });
    expect(got.headers[':status']).toBe(415);
  });

  it("ends a call at the caller's deadline with DEADLINE_EXCEEDED and unsubscribes its chain", async () => {
    let unsubscribed = false;
    const session = await server((s) =>
      serveNetworkService(s, { request: () => NEVER.pipe(finalize(() => (unsubscribed = true))), close: () => of(undefined) }, new ConnectionMonitor()),
    );
    const request = lengthPrefixed(NetworkServiceRequest.encode(NetworkServiceRequest.fromPartial({ connection: { id: 'c' } })).finish());
    const got = await exchange(session, '/networkservice.NetworkService/Request', request, { 'grpc-timeout': '50m' });
    expect(statusOf(got)).toEqual({ code: status.DEADLINE_EXCEEDED, message: '/networkservice.NetworkService/Request: deadline exceeded' });
    expect(unsubscribed).toBe(true);
  });

  it('an answer its protobuf cannot hold is INTERNAL naming the method, and the server goes on serving', async () => {
    const session = await server((s) =>
      serveNetworkService(s, { request: (r) => of({ ...(r.connection as Connection), state: 'up' as unknown as number }), close: () => of(undefined) }, new ConnectionMonitor()),
    );
    const request = lengthPrefixed(NetworkServiceRequest.encode(NetworkServiceRequest.fromPartial({ connection: { id: 'c' } })).finish());
    expect(statusOf(await exchange(session, '/networkservice.NetworkService/Request', request))).toEqual({
      code: status.INTERNAL,
      message: expect.stringContaining('/networkservice.NetworkService/Request: the answer does not encode: '),
    });
    expect(statusOf(await exchange(session, '/grpc.health.v1.Health/Check', check)).code).toBe(status.OK);
  });

  it("hands the chain the caller's metadata, without the transport's headers", async () => {
    let seen: Metadata | undefined;
    const session = await server((s) =>
      serveNetworkService(
        s,
        {
          request: (r, ctx) => {
            seen = ctx.get(incomingCallKey)?.metadata;
            return of(r.connection as Connection);
          },
          close: () => of(undefined),
        },
        new ConnectionMonitor(),
      ),
    );
    const request = lengthPrefixed(NetworkServiceRequest.encode(NetworkServiceRequest.fromPartial({ connection: { id: 'c' } })).finish());
    const got = await exchange(session, '/networkservice.NetworkService/Request', request, { 'grpc-timeout': '5S', path: 'p1', 'trace-bin': Buffer.from([1, 2]).toString('base64') });
    expect(statusOf(got).code).toBe(status.OK);
    expect(Connection.decode(got.messages[0]!).id).toBe('c');
    expect(seen?.get('path')).toEqual(['p1']);
    expect(seen?.get('trace-bin')).toEqual([Buffer.from([1, 2])]);
    for (const key of ['te', 'content-type', 'grpc-timeout']) expect(seen?.get(key)).toEqual([]);
  });
});

describe('Http2ServedCall', () => {
  it('a call that ended leaves nothing of itself on its stream: the stream object outlives the call until a full GC', async () => {
    const raw = createServer();
    const served: ServerHttp2Stream[] = [];
    raw.on('stream', (stream, headers) => {
      served.push(stream);
      const call = new Http2ServedCall(stream, headers, HealthService.check, 1 << 20, asyncScheduler);
      call.listen({ message: () => call.write(HealthCheckResponse.fromPartial({ status: Serving.SERVING })), end: () => call.end(), error: (e) => call.fail(e) });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const address = raw.address();
    const session = connect(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
    sessions.push(session);
    try {
      const got = await exchange(session, '/grpc.health.v1.Health/Check', check);
      expect(statusOf(got).code).toBe(status.OK);
      const [stream] = served;
      if (stream === undefined) throw new Error('no stream was served');
      if (!stream.closed) await new Promise((r) => stream.once('close', r));
      await new Promise((r) => setImmediate(r));
      expect(['data', 'end', 'wantTrailers'].map((e) => stream.listenerCount(e))).toEqual([0, 0, 0]);
    } finally {
      session.close();
      await new Promise((r) => raw.close(r));
    }
  });
});

import { connect, createServer, type ClientHttp2Stream, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata } from '../../operators/core/callMetadata.js';
import { asyncScheduler, firstValueFrom, lastValueFrom, of, tap } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unixUrl, type NsmUrl } from '../../operators/tools/nsmUrl.js';
import { ClientChannel, type ChannelState } from './clientChannel.js';
import type { CallSettings } from './clientCall.js';
import type { MethodDef } from './method.js';
import { lengthPrefixed } from './wire.js';

const same = (b: Buffer): Buffer => b;
const method = (responseStream: boolean, requestStream = false): MethodDef<Buffer, Buffer> => ({
  path: '/test.Echo/Call',
  requestStream,
  responseStream,
  requestSerialize: same,
  requestDeserialize: same,
  responseSerialize: same,
  responseDeserialize: same,
});
const unary = method(false);
const settings = (more: Partial<CallSettings> = {}): CallSettings => ({ metadata: new Metadata(), scheduler: asyncScheduler, ...more });

/** A raw HTTP/2 server: each test says how a stream is answered, byte for byte. */
let answer: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;
let dir: string;
let url: NsmUrl;
let server: Http2Server;
let channels: ClientChannel[];

const listen = () => new Promise<void>((resolve) => server.listen(join(dir, 's.sock'), resolve));
const ok = (stream: ServerHttp2Stream, ...messages: Buffer[]) => {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  for (const m of messages) stream.write(lengthPrefixed(m));
  stream.end();
};
const channel = (options: ConstructorParameters<typeof ClientChannel>[1] = {}) => {
  const c = new ClientChannel(url, options);
  channels.push(c);
  return c;
};
const states = (c: ClientChannel): ChannelState[] => {
  const seen: ChannelState[] = [];
  c.states.subscribe((s) => seen.push(s));
  return seen;
};

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nsm-rx-client-'));
  url = unixUrl(join(dir, 's.sock'));
  channels = [];
  server = createServer();
  server.on('stream', (stream, headers) => answer(stream.on('error', () => undefined), headers));
  await listen();
});
afterEach(async () => {
  for (const c of channels) c.close();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('ClientChannel', () => {
  it('connects on the first call, sends gRPC headers and the metadata, gives the response headers and the answer', async () => {
    let seen: IncomingHttpHeaders = {};
    answer = (stream, headers) => {
      seen = headers;
      stream.on('data', () => undefined).on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-answer': 'yes' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(lengthPrefixed(Buffer.from('pong')));
      });
    };
    const c = channel();
    const seenStates = states(c);
    const metadata = new Metadata();
    metadata.set('x-caller', 'nsc');
    const headers: Metadata[] = [];
    const got = await firstValueFrom(c.call(unary, { one: Buffer.from('ping') }, settings({ metadata, onHeaders: (h) => headers.push(h) })));
    expect(got.toString()).toBe('pong');
    expect(seenStates).toEqual(['idle', 'connecting', 'ready']);
    expect(seen).toMatchObject({ ':method': 'POST', ':path': '/test.Echo/Call', 'content-type': 'application/grpc', te: 'trailers', 'x-caller': 'nsc' });
    expect(headers[0]?.get('x-answer')).toEqual(['yes']);
  });

  it('a status other than OK is an NsmError with its code and the percent-decoded message; trailers-only and after messages alike', async () => {
    answer = (stream) => stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'no %C3%A9ndpoint' }, { endStream: true });
    const c = channel();
    await expect(firstValueFrom(c.call(unary, { one: Buffer.alloc(0) }, settings()))).rejects.toMatchObject({ code: 5, message: 'no éndpoint' });
    answer = (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '14', 'grpc-message': 'gone' }));
      stream.end(lengthPrefixed(Buffer.from('a')));
    };
    const stream = c.call(method(true), { one: Buffer.alloc(0) }, settings());
    const got: string[] = [];
    await expect(lastValueFrom(stream.pipe(tap((m) => got.push(m.toString()))))).rejects.toMatchObject({ code: 14, message: 'gone' });
    expect(got).toEqual(['a']);
  });

  it('answers that break the protocol are errors naming the call: not gRPC (HTTP 404 → UNIMPLEMENTED, 500 → UNKNOWN), two answers to a unary call, none, a reset stream', async () => {
    const c = channel();
    const call = () => firstValueFrom(c.call(unary, { one: Buffer.alloc(0) }, settings()));
    answer = (stream) => stream.respond({ ':status': 404 }, { endStream: true });
    await expect(call()).rejects.toMatchObject({ code: 12, message: expect.stringContaining('HTTP 404') });
    answer = (stream) => stream.respond({ ':status': 500 }, { endStream: true });
    await expect(call()).rejects.toMatchObject({ code: 2, message: expect.stringContaining('HTTP 500') });
    answer = (stream) => ok(stream, Buffer.from('a'), Buffer.from('b'));
    await expect(call()).rejects.toMatchObject({ code: 13, message: expect.stringContaining('more than one message') });
    answer = (stream) => ok(stream);
    await expect(call()).rejects.toMatchObject({ code: 13, message: expect.stringContaining('without an answer') });
    answer = (stream) => stream.close(2);
    await expect(call()).rejects.toMatchObject({ code: 13, message: expect.stringContaining('/test.Echo/Call') });
  });

  it('a server stream gives its messages as they come; a bidi call sends every request and half-closes at their end', async () => {
    answer = (stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (d: Buffer) => chunks.push(d)).on('end', () => ok(stream, Buffer.concat(chunks)));
    };
    const c = channel();
    const echoed = await firstValueFrom(c.call(method(true, true), { all: of(Buffer.from('a'), Buffer.from('b')) }, settings()));
    expect(echoed).toEqual(Buffer.concat([lengthPrefixed(Buffer.from('a')), lengthPrefixed(Buffer.from('b'))]));
  });

  it('sends the deadline as grpc-timeout and, when it passes, fails DEADLINE_EXCEEDED and resets the stream', async () => {
    let timeout: string | undefined;
    const reset = new Promise<number>((resolve) => {
      answer = (stream, headers) => {
        timeout = headers['grpc-timeout'] as string;
        stream.on('close', () => resolve(stream.rstCode));
      };
    });
    const c = channel();
    await expect(firstValueFrom(c.call(unary, { one: Buffer.alloc(0) }, settings({ deadline: asyncScheduler.now() + 100 })))).rejects.toMatchObject({ code: 4 });
    expect(Number(timeout?.replace('m', ''))).toBeLessThanOrEqual(100);
    expect(await reset).toBe(8); // CANCEL
  });

  it('a closed call leaves nothing of itself on its stream: the stream object outlives the call until a full GC', async () => {
    answer = (stream) => ok(stream, Buffer.from('pong'));
    const c = channel();
    await firstValueFrom(c.call(unary, { one: Buffer.alloc(0) }, settings())); // connected
    // The session's prototype, from a session of our own: request() is wrapped to see the stream.
    const probe = connect('http://localhost', { createConnection: () => netConnect(join(dir, 's.sock')) });
    const sessionProto = Object.getPrototypeOf(probe) as { request: (...a: unknown[]) => ClientHttp2Stream };
    probe.destroy();
    const request = sessionProto.request;
    const made: ClientHttp2Stream[] = [];
    sessionProto.request = function (this: unknown, ...a: unknown[]) {
      const s = request.apply(this, a);
      made.push(s);
      return s;
    };
    try {
      await firstValueFrom(c.call(unary, { one: Buffer.alloc(0) }, settings()));
    } finally {
      sessionProto.request = request;
    }
    const [stream] = made;
    if (stream === undefined) throw new Error('no stream was made');
    if (!stream.closed) await new Promise((r) => stream.once('close', r));
    await new Promise((r) => setImmediate(r));
    expect(['response', 'data', 'trailers'].map((e) => stream.listenerCount(e))).toEqual([0, 0, 0]);
  });

  it('unsubscribing resets the stream (CANCEL); the connection stays for the next call', async () => {
    const reset = new Promise<number>((resolve) => {
      answer = (stream) => stream.on('close', () => resolve(stream.rstCode));
    });
    const c = channel();
    const sub = c.call(method(true), { one: Buffer.alloc(0) }, settings()).subscribe();
    await expect.poll(() => c.current).toBe('ready');
    sub.unsubscribe();
    expect(await reset).toBe(8);
    expect(c.current).toBe('ready');
  });

  it('nothing listening: the call fails UNAVAILABLE, the channel is failing, calls fail at once until the backoff ends, then it connects anew', async () => {
    await new Promise((r) => server.close(r));
    const c = channel({ reconnectBackoff: { initialMs: 200, maxMs: 200 } });
    const call = () => firstValueFrom(c.call(unary, { one: Buffer.alloc(0) }, settings()));
    await expect(call()).rejects.toMatchObject({ code: 14, message: expect.stringMatching(new RegExp(`${url.href}: connect (ENOENT|ECONNREFUSED)`)) });
    expect(c.current).toBe('failing');
    await expect(call()).rejects.toMatchObject({ code: 14 });
    server = createServer();
    server.on('stream', (stream) => ok(stream, Buffer.from('back')));
    await listen();
    await expect.poll(() => c.current).toBe('idle');
    expect((await call()).toString()).toBe('back');
  });

  it('a lost connection makes the channel idle, failing its open calls UNAVAILABLE; the next call reconnects', async () => {
    const open: ServerHttp2Stream[] = [];
    answer = (stream) => open.push(stream);
    const c = channel();
    const failed = firstValueFrom(c.call(method(true), { one: Buffer.alloc(0) }, settings()));
    await expect.poll(() => open.length).toBe(1);
    open[0]!.session?.destroy();
    await expect(failed).rejects.toMatchObject({ code: 14 });
    expect(c.current).toBe('idle');
    answer = (stream) => ok(stream, Buffer.from('again'));
    expect((await firstValueFrom(c.call(unary, { one: Buffer.alloc(0) }, settings()))).toString()).toBe('again');
  });

  it('closed: shutdown, and calls fail UNAVAILABLE', async () => {
    const c = channel();
    c.close();
    expect(c.current).toBe('shutdown');
    await expect(firstValueFrom(c.call(unary, { one: Buffer.alloc(0) }, settings()))).rejects.toMatchObject({ code: 14, message: expect.stringContaining('closed') });
  });
});

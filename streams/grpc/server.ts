import { chmod, mkdir, rm } from 'node:fs/promises';
import { createSecureServer, createServer as createHttp2Server, type Http2Server, type Http2Session, type IncomingHttpHeaders, type SecureServerOptions, type ServerHttp2Stream } from 'node:http2';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { asyncScheduler, defer, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import type { Context } from '../../operators/core/context.js';
import { internal, unimplemented } from '../../operators/core/errors.js';
import type { MethodDef } from './method.js';
import type { CallObserver } from '../../operators/tools/metrics.js';
import { endingSpan, observeCall } from './observeCall.js';
import { HealthState, healthDefinition, ServingStatus } from './health.js';
import { bidiStreamHandler, defaultMaxBuffered, incomingCallKey, serverStreamHandler, unaryHandler, type CallHandler } from './serve.js';
import { Http2ServedCall, refuse } from './serverCall.js';
import { timeoutMs } from './wire.js';
import { carrierOf } from './carrier.js';
import { spanKey } from '../../operators/tools/traceContext.js';
import type { CallTracing } from '../../operators/tools/tracing.js';
import { parseNsmUrl, tcpUrl, type NsmUrl } from '../../operators/tools/nsmUrl.js';
import { bundlesPem, chainPem, keyPem, type X509Context, type X509Source } from '../spiffe/svid.js';
import { ignoreError } from './ignoreError.js';

/**
 * Pending connections a listener holds. Node listens with a backlog of 511, and a unix socket
 * refuses connections past it at once (EAGAIN) instead of queueing them; upstream's nsmgr dials
 * one connection per NSM connection, so 1,000 clients at once through it overran an nsm-rx
 * forwarder. Go servers listen with the kernel's somaxconn (4096 here), so do we.
 */
const BACKLOG = 4096;

/** The largest request message accepted, as grpc-go's and grpc-js's servers default. */
const MAX_RECEIVE = 4 * 1024 * 1024;

/** A wildcard listen host is published as loopback here (upstream fills in the pod IP). */
const publishedHost = (host: string): string => (host === '' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host);

type Handlers = Record<string, (request: never, ctx: Context) => Observable<unknown>>;

/** The handler of one method: a request (unary, server streaming) or the requests' stream (bidi). */
type HandlerOf<M> = M extends MethodDef<infer Req, infer Res> ? (M extends { readonly requestStream: true } ? (requests: Observable<Req>, ctx: Context) => Observable<Res> : (request: Req, ctx: Context) => Observable<Res>) : never;

export interface GrpcServerOptions {
  scheduler?: SchedulerLike;
  /** mTLS with this source's SVID, callers' certificates required and verified against its bundles; plaintext without. */
  source?: X509Source;
  /** Messages a server stream (Find, MonitorConnections) may queue for a slow reader. */
  maxBuffered?: number;
  /** Told of every call served and how it ended (Prometheus). */
  observe?: CallObserver;
  /** A server span for every call served, child of the caller's (TELEMETRY=true). */
  tracing?: CallTracing;
}

/** The TLS context of an X.509 context: its SVID to present, its bundles to verify callers against. */
const tlsOptions = (ctx: X509Context): SecureServerOptions => ({ ca: bundlesPem(ctx), cert: chainPem(ctx.svid), key: keyPem(ctx.svid) });

/** A served method: the codec and the handler of its calls. */
interface Route {
  readonly method: MethodDef<unknown, unknown>;
  readonly handle: CallHandler<unknown, unknown>;
}

/**
 * A gRPC server over Node's HTTP/2 serving Observable-based services on every NSM listen URL,
 * with the gRPC health service marking each served service SERVING (as upstream's
 * RegisterHealthServices). Unary, server-streaming and bidirectional methods; identity encoding
 * only; mTLS from an X509Source, each rotation reaching new connections.
 */
export class GrpcServer {
  readonly health = new HealthState();
  private readonly http2: Http2Server;
  private readonly routes = new Map<string, Route>();
  private readonly sessions = new Set<Http2Session>();
  private readonly scheduler: SchedulerLike;
  private readonly maxBuffered: number;
  private readonly observe: CallObserver | undefined;
  private readonly tracing: CallTracing | undefined;
  private readonly rotation: Subscription | undefined;
  private bound: NsmUrl[] = [];
  private readonly listeners: NetServer[] = [];
  private stopped = false;

  constructor(options: GrpcServerOptions = {}) {
    this.scheduler = options.scheduler ?? asyncScheduler;
    this.maxBuffered = options.maxBuffered ?? defaultMaxBuffered;
    this.observe = options.observe;
    this.tracing = options.tracing;
    // Node's per-session memory cap (10 MB) ends busy sessions with ENHANCE_YOUR_CALM; grpc-js and
    // grpc-go servers have none either.
    const http2Options = { maxSessionMemory: Number.MAX_SAFE_INTEGER, maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER };
    const source = options.source;
    if (source === undefined) this.http2 = createHttp2Server(http2Options);
    else {
      const secure = createSecureServer({ ...http2Options, requestCert: true, rejectUnauthorized: true });
      this.rotation = source.updates.subscribe((ctx) => secure.setSecureContext(tlsOptions(ctx)));
      secure.on('secureConnection', (socket: Socket) => socket.on('error', () => undefined));
      this.http2 = secure as unknown as Http2Server;
    }
    this.http2.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
    });
    this.http2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.dispatch(stream, headers));
    this.serve('grpc.health.v1.Health', healthDefinition, {
      check: (r) => this.health.check(r),
      watch: (r) => this.health.watch(r),
    });
    this.health.set('', ServingStatus.SERVING);
  }

  private dispatch(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const contentType = headers['content-type'];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      stream.on('error', ignoreError);
      stream.respond({ ':status': 415 }, { endStream: true });
      return;
    }
    const path = String(headers[':path']);
    const route = this.routes.get(path);
    const timeout = headers['grpc-timeout'];
    if (route === undefined) refuse(stream, unimplemented(`unknown method ${path}`));
    else if (timeout !== undefined && timeoutMs(timeout) === undefined) refuse(stream, internal(`${path}: invalid grpc-timeout "${String(timeout)}"`));
    else route.handle(new Http2ServedCall(stream, headers, route.method, MAX_RECEIVE, this.scheduler));
  }

  /**
   * Adds a service: `handlers` has one Observable-returning function per method of `definition`
   * (by ts-proto's method name), of the request or, for a bidirectional method, of the requests'
   * stream; unary methods must emit exactly once.
   */
  serve<S extends Record<string, MethodDef<unknown, unknown>>>(serviceName: string, definition: S, handlers: { [K in keyof S]: HandlerOf<S[K]> }): this {
    const all = handlers as unknown as Handlers;
    for (const [name, method] of Object.entries(definition)) {
      const fn = all[name];
      if (fn === undefined) throw new Error(`no handler for ${method.path}`);
      const run = fn as (request: unknown, ctx: Context) => Observable<unknown>;
      const tracing = this.tracing;
      const unary = !method.requestStream && !method.responseStream;
      const handler = (request: unknown, ctx: Context) => {
        const metadata = ctx.get(incomingCallKey)?.metadata;
        if (tracing === undefined || metadata === undefined) return defer(() => run(request, ctx)).pipe(observeCall(this.observe, method.path, unary));
        return defer(() => {
          const span = tracing.serve(method.path, carrierOf(metadata));
          return run(request, ctx.with(spanKey, span.context)).pipe(observeCall(endingSpan(this.observe, span), method.path, unary));
        });
      };
      const handle = method.requestStream
        ? bidiStreamHandler(handler as (requests: Observable<unknown>, ctx: Context) => Observable<unknown>, this.scheduler)
        : method.responseStream
          ? serverStreamHandler(method.path, handler, this.scheduler, this.maxBuffered)
          : unaryHandler(method.path, handler, this.scheduler);
      this.routes.set(method.path, { method, handle });
    }
    this.health.set(serviceName, ServingStatus.SERVING);
    return this;
  }

  /** Binds every URL (unix sockets: stale file removed, directory created, mode 0777). */
  async listen(urls: readonly (string | NsmUrl)[]): Promise<NsmUrl[]> {
    for (const raw of urls) {
      const url = typeof raw === 'string' ? parseNsmUrl(raw) : raw;
      if (url.scheme === 'inode') throw new Error(`cannot listen on ${url.href}: inode URLs name a passed socket`);
      if (url.scheme === 'unix') {
        await mkdir(dirname(url.path), { recursive: true });
        await rm(url.path, { force: true });
        await this.listenOn({ path: url.path });
        await chmod(url.path, 0o777);
        this.bound.push(url);
        continue;
      }
      const listener = await this.listenOn({ host: url.host, port: url.port });
      const address = listener.address();
      this.bound.push(tcpUrl(publishedHost(url.host), typeof address === 'object' && address !== null ? address.port : url.port));
    }
    return this.bound;
  }

  /** A listener with BACKLOG handing its connections to the HTTP/2 server. */
  private async listenOn(where: { path: string } | { host: string; port: number }): Promise<NetServer> {
    const listener = createServer((socket) => {
      socket.setNoDelay(true);
      this.http2.emit('connection', socket);
    });
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ ...where, backlog: BACKLOG }, () => resolve());
    });
    this.listeners.push(listener);
    return listener;
  }

  /** No new connections, and unix socket files gone. */
  private async closeListeners(): Promise<void> {
    for (const listener of this.listeners.splice(0)) listener.close();
    this.rotation?.unsubscribe();
    for (const url of this.bound) if (url.scheme === 'unix') await rm(url.path, { force: true });
  }

  /** The URLs actually bound (tcp port 0 resolved). */
  get urls(): readonly NsmUrl[] {
    return this.bound;
  }

  /**
   * Stops: health goes NOT_SERVING, Watch streams end, every connection gets GOAWAY and
   * `graceMs` for its calls to finish, then everything is cut. Unix socket files are removed.
   */
  async stop(graceMs = 1000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.health.setAll(ServingStatus.NOT_SERVING);
    this.health.complete();
    await this.closeListeners();
    const open = [...this.sessions];
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        for (const session of this.sessions) session.destroy();
        resolve();
      }, graceMs);
      let left = open.length;
      const closed = () => --left <= 0 && (clearTimeout(force), resolve());
      if (left === 0) closed();
      for (const session of open) session.close(closed);
    });
  }

  /** Dies at once, like a killed process: every call and stream is cut. */
  async kill(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const session of this.sessions) session.destroy();
    await this.closeListeners();
  }
}

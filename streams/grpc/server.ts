import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer, type Server as NetServer } from 'node:net';
import { dirname } from 'node:path';
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { asyncScheduler, defer, type Observable, type SchedulerLike } from 'rxjs';
import type { Context } from '../../operators/core/context.js';
import type { MethodDef } from './method.js';
import type { CallObserver } from '../../operators/tools/metrics.js';
import { endingSpan, observeCall } from './observeCall.js';
import { HealthState, healthDefinition, ServingStatus } from './health.js';
import { bidiStreamHandler, defaultMaxBuffered, guardDecoding, incomingCallKey, serverStreamHandler, unaryHandler } from './serve.js';
import { carrierOf } from './carrier.js';
import { spanKey } from '../../operators/tools/traceContext.js';
import type { CallTracing } from '../../operators/tools/tracing.js';
import { grpcTarget, parseNsmUrl, tcpUrl, type NsmUrl } from '../../operators/tools/nsmUrl.js';

/**
 * Pending connections a unix socket holds. grpc-js listens with Node's default (511), and a unix
 * socket refuses connections past it at once (EAGAIN) instead of queueing them; upstream's nsmgr
 * dials one connection per NSM connection, so 1,000 clients at once through it overran an nsm-rx
 * forwarder. Go servers listen with the kernel's somaxconn (4096 here), so do we.
 */
const UNIX_BACKLOG = 4096;

/** A wildcard listen host is published as loopback here (upstream fills in the pod IP). */
const publishedHost = (host: string): string => (host === '' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host);

type Handlers = Record<string, (request: never, ctx: Context) => Observable<unknown>>;

/** The handler of one method: a request (unary, server streaming) or the requests' stream (bidi). */
type HandlerOf<M> = M extends MethodDef<infer Req, infer Res> ? (M extends { readonly requestStream: true } ? (requests: Observable<Req>, ctx: Context) => Observable<Res> : (request: Req, ctx: Context) => Observable<Res>) : never;

export interface GrpcServerOptions {
  scheduler?: SchedulerLike;
  credentials?: ServerCredentials;
  /** Messages a server stream (Find, MonitorConnections) may queue for a slow reader. */
  maxBuffered?: number;
  /** Told of every call served and how it ended (Prometheus). */
  observe?: CallObserver;
  /** A server span for every call served, child of the caller's (TELEMETRY=true). */
  tracing?: CallTracing;
}

/**
 * One grpc-js server serving Observable-based services on every NSM listen URL, with the gRPC
 * health service marking each served service SERVING (as upstream's RegisterHealthServices).
 */
export class GrpcServer {
  readonly health = new HealthState();
  private readonly server = new Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  private readonly scheduler: SchedulerLike;
  private readonly credentials: ServerCredentials;
  private readonly maxBuffered: number;
  private readonly observe: CallObserver | undefined;
  private readonly tracing: CallTracing | undefined;
  private bound: NsmUrl[] = [];
  /** Our own listeners on unix sockets, handing their connections to grpc-js. */
  private readonly unixListeners: NetServer[] = [];
  private stopped = false;

  constructor(options: GrpcServerOptions = {}) {
    this.scheduler = options.scheduler ?? asyncScheduler;
    this.credentials = options.credentials ?? ServerCredentials.createInsecure();
    this.maxBuffered = options.maxBuffered ?? defaultMaxBuffered;
    this.observe = options.observe;
    this.tracing = options.tracing;
    this.serve('grpc.health.v1.Health', healthDefinition, {
      check: (r) => this.health.check(r),
      watch: (r) => this.health.watch(r),
    });
    this.health.set('', ServingStatus.SERVING);
  }

  /**
   * Adds a service: `handlers` has one Observable-returning function per method of `definition`
   * (by ts-proto's method name), of the request or, for a bidirectional method, of the requests'
   * stream; unary methods must emit exactly once.
   */
  serve<S extends Record<string, MethodDef<unknown, unknown>>>(serviceName: string, definition: S, handlers: { [K in keyof S]: HandlerOf<S[K]> }): this {
    const impl: UntypedServiceImplementation = {};
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
      impl[name] = method.requestStream
        ? bidiStreamHandler(method.path, handler as (requests: Observable<unknown>, ctx: Context) => Observable<unknown>, this.scheduler)
        : method.responseStream
          ? serverStreamHandler(method.path, handler, this.scheduler, this.maxBuffered)
          : unaryHandler(method.path, handler, this.scheduler);
    }
    this.server.addService(guardDecoding(definition) as unknown as ServiceDefinition, impl);
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
      }
      if (url.scheme === 'unix') {
        await this.listenUnix(url.path);
        this.bound.push(url);
        continue;
      }
      const port = await new Promise<number>((resolve, reject) =>
        this.server.bindAsync(grpcTarget(url), this.credentials, (err, p) => (err ? reject(err) : resolve(p))),
      );
      this.bound.push(tcpUrl(publishedHost(url.host), port));
    }
    return this.bound;
  }

  /** A unix socket with UNIX_BACKLOG, its connections injected into the grpc-js server. */
  private async listenUnix(path: string): Promise<void> {
    const injector = this.server.createConnectionInjector(this.credentials);
    const listener = createServer((socket) => injector.injectConnection(socket));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ path, backlog: UNIX_BACKLOG }, () => resolve());
    });
    this.unixListeners.push(listener);
    await chmod(path, 0o777);
  }

  /** No new connections on our unix sockets, and their files gone. */
  private async closeUnix(): Promise<void> {
    for (const listener of this.unixListeners.splice(0)) listener.close();
    for (const url of this.bound) if (url.scheme === 'unix') await rm(url.path, { force: true });
  }

  /** The URLs actually bound (tcp port 0 resolved). */
  get urls(): readonly NsmUrl[] {
    return this.bound;
  }

  /**
   * Stops: health goes NOT_SERVING, open streams end, in-flight unary calls get `graceMs` to
   * finish, then everything is cut. Unix socket files are removed.
   */
  async stop(graceMs = 1000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.health.setAll(ServingStatus.NOT_SERVING);
    this.health.complete();
    for (const listener of this.unixListeners.splice(0)) listener.close(); // no new connections while draining
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    await this.closeUnix();
  }

  /** Dies at once, like a killed process: every call and stream is cut. */
  async kill(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.server.forceShutdown();
    await this.closeUnix();
  }
}

import type { handleBidiStreamingCall, handleServerStreamingCall, handleUnaryCall, Metadata, ServerDuplexStream, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import { asyncScheduler, defer, Observable, Subscription, type SchedulerLike } from 'rxjs';
import { Context, ContextKey } from '../../operators/core/context.js';
import { status } from '@grpc/grpc-js';
import { internal, invalidArgument, NsmError } from '../../operators/core/errors.js';
import type { MethodDef } from './method.js';
import type { PeerIdentity } from '../../operators/core/peer.js';
import { peerIdentityOf } from '../spiffe/tls.js';
import { toServiceError } from './status.js';

/** What a served call knows about its caller. */
export interface IncomingCall {
  readonly metadata: Metadata;
  /** The caller's address. */
  readonly peer: string;
  /** The caller's SPIFFE identity, when the call came over mutual TLS. */
  readonly identity: PeerIdentity | undefined;
  /** Sends response headers ahead of the answer (upstream grpc.SendHeader). */
  readonly sendHeaders?: (headers: Metadata) => void;
}
export const incomingCallKey = new ContextKey<IncomingCall>('grpc.incomingCall');

/** Bytes that did not decode arrive as this marker so the handler can answer INVALID_ARGUMENT. */
const undecodable = Symbol('undecodable');
interface Undecodable {
  readonly [undecodable]: string;
}

/**
 * A service definition whose request decoders never throw: grpc-js would answer a decode error
 * with INTERNAL, but a malformed request is the caller's fault (INVALID_ARGUMENT).
 */
export function guardDecoding<S extends Record<string, MethodDef<unknown, unknown>>>(definition: S): S {
  const guarded: Record<string, MethodDef<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition)) {
    guarded[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (e) {
          return { [undecodable]: e instanceof Error ? e.message : String(e) };
        }
      },
    };
  }
  return guarded as S;
}

function decodeError(request: unknown, path: string): Error | undefined {
  if (typeof request === 'object' && request !== null && undecodable in request) {
    return invalidArgument(`${path}: request is not a valid protobuf message: ${(request as Undecodable)[undecodable]}`);
  }
  return undefined;
}

type ServerCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/**
 * The HTTP/2 session a grpc-js server call runs on, through grpc-js internals (the version is
 * pinned); undefined where they differ, and then the identity is read per call.
 */
function sessionOf(call: ServerCall): object | undefined {
  let inner: unknown = (call as unknown as { call?: unknown }).call;
  for (let depth = 0; depth < 4 && typeof inner === 'object' && inner !== null; depth++) {
    const stream = (inner as { stream?: { session?: unknown } }).stream;
    if (stream !== undefined) return typeof stream.session === 'object' && stream.session !== null ? stream.session : undefined;
    inner = (inner as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

/** Each TLS session's caller: its certificate cannot change, and grpc-js re-reads it on every call (~7 % of a secure Request's CPU). */
const sessionIdentities = new WeakMap<object, PeerIdentity | undefined>();

/** The caller's SPIFFE identity, read once per HTTP/2 session. */
export function callerIdentity(call: ServerCall): PeerIdentity | undefined {
  const session = sessionOf(call);
  if (session !== undefined && sessionIdentities.has(session)) return sessionIdentities.get(session);
  const identity = peerIdentityOf(call.getAuthContext()?.sslPeerCertificate);
  if (session !== undefined) sessionIdentities.set(session, identity);
  return identity;
}

function callContext(call: ServerCall, scheduler: SchedulerLike): Context {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  const identity = callerIdentity(call);
  const sendHeaders = (headers: Metadata) => call.sendMetadata(headers);
  const ctx = Context.background.with(incomingCallKey, { metadata: call.metadata, peer: call.getPeer(), identity, sendHeaders });
  return Number.isFinite(ms) ? ctx.withDeadline(scheduler.now() + (ms - Date.now())) : ctx;
}

/** Serves a unary method from an Observable-returning function; a cancelled call unsubscribes. */
export function unaryHandler<Req, Res>(
  path: string,
  fn: (request: Req, ctx: Context) => Observable<Res>,
  scheduler: SchedulerLike = asyncScheduler,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const bad = decodeError(call.request, path);
    if (bad) return callback(toServiceError(bad));
    let answered = false;
    const subscription = defer(() => fn(call.request, callContext(call, scheduler))).subscribe({
      next: (response) => {
        if (answered) return;
        answered = true;
        callback(null, response);
      },
      error: (e: unknown) => {
        answered = true;
        callback(toServiceError(e));
      },
      complete: () => answered || callback(toServiceError(internal(`${path}: the chain completed without a response`))),
    });
    call.on('cancelled', () => subscription.unsubscribe());
  };
}

/** Messages a server stream may queue for a slow reader, beyond its initial snapshot. */
export const defaultMaxBuffered = 4096;

/**
 * Serves a server-streaming method from an Observable; the client cancelling unsubscribes.
 * Back-pressure: the Observable is push-based (one change stream feeds every watcher), so a
 * reader that does not keep up must not make the server buffer without bound or stall others.
 * Once more than `maxBuffered` messages beyond the initial snapshot (what the source emits while
 * being subscribed, e.g. a registry's current entries) are queued, the stream is cut with
 * RESOURCE_EXHAUSTED (what is queued still drains first); the reader can Find again.
 */
export function serverStreamHandler<Req, Res>(
  path: string,
  fn: (request: Req, ctx: Context) => Observable<Res>,
  scheduler: SchedulerLike = asyncScheduler,
  maxBuffered = defaultMaxBuffered,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    const bad = decodeError(call.request, path);
    if (bad) return void call.emit('error', toServiceError(bad));
    let allowance = maxBuffered;
    let subscribing = true;
    // Made first so `next` can cut even while the source is still emitting its snapshot
    // synchronously (adding to a closed Subscription tears the addition down at once).
    const subscription = new Subscription();
    subscription.add(defer(() => fn(call.request, callContext(call, scheduler))).subscribe({
      next: (message) => {
        if (subscription.closed) return;
        if (subscribing) allowance++;
        else if (call.writableLength >= allowance) {
          subscription.unsubscribe();
          const why = `${path}: the reader fell ${call.writableLength} messages behind; call again for a fresh view`;
          call.emit('error', toServiceError(new NsmError(status.RESOURCE_EXHAUSTED, why)));
          return;
        }
        call.write(message);
      },
      error: (e: unknown) => call.emit('error', toServiceError(e)),
      complete: () => call.end(),
    }));
    subscribing = false;
    call.on('cancelled', () => subscription.unsubscribe());
  };
}

/**
 * Serves a bidirectional-streaming method from a function of the incoming messages: its
 * Observable's messages go out; it completing ends the call, an error ends it with its status;
 * the client cancelling (or its stream failing) unsubscribes. The incoming Observable completes
 * when the client half-closes.
 */
export function bidiStreamHandler<Req, Res>(
  path: string,
  fn: (requests: Observable<Req>, ctx: Context) => Observable<Res>,
  scheduler: SchedulerLike = asyncScheduler,
): handleBidiStreamingCall<Req, Res> {
  return (call) => {
    const requests = new Observable<Req>((subscriber) => {
      const onData = (message: Req) => {
        const bad = decodeError(message, path);
        if (bad) subscriber.error(bad);
        else subscriber.next(message);
      };
      const onEnd = () => subscriber.complete();
      call.on('data', onData);
      call.on('end', onEnd);
      return () => {
        call.off('data', onData);
        call.off('end', onEnd);
      };
    });
    const subscription = defer(() => fn(requests, callContext(call, scheduler))).subscribe({
      next: (message) => call.write(message),
      error: (e: unknown) => call.emit('error', toServiceError(e)),
      complete: () => call.end(),
    });
    call.on('cancelled', () => subscription.unsubscribe());
  };
}

import type { Metadata } from '../../operators/core/callMetadata.js';
import { asyncScheduler, defer, Observable, Subscription, type SchedulerLike } from 'rxjs';
import { Context, ContextKey } from '../../operators/core/context.js';
import { internal, resourceExhausted } from '../../operators/core/errors.js';
import type { PeerIdentity } from '../../operators/core/peer.js';
import type { ServedCall } from './serverCall.js';

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

/** Serves one call: what the server runs for each call of a method. */
export type CallHandler<Req, Res> = (call: ServedCall<Req, Res>) => void;

function callContext(call: ServedCall<unknown, unknown>, scheduler: SchedulerLike): Context {
  const ctx = Context.background.with(incomingCallKey, { metadata: call.metadata, peer: call.peer, identity: call.identity, sendHeaders: (headers) => call.sendHeaders(headers) });
  return call.timeoutMs === undefined ? ctx : ctx.withDeadline(scheduler.now() + call.timeoutMs);
}

/**
 * Runs `answer` for the call's single request (unary and server-streaming methods): a call that
 * ends without one is INTERNAL, as in grpc-go. The call being cancelled unsubscribes the answer.
 */
function forRequest<Req, Res>(path: string, scheduler: SchedulerLike, answer: (request: Req, call: ServedCall<Req, Res>, ctx: Context) => Subscription): CallHandler<Req, Res> {
  return (call) => {
    let running: Subscription | undefined;
    call.listen({
      message: (request) => {
        if (running !== undefined) return;
        running = answer(request, call, callContext(call, scheduler));
        call.onCancel(() => running?.unsubscribe());
      },
      end: () => running === undefined && call.fail(internal(`${path}: the call ended without a request`)),
      error: (err) => call.fail(err),
    });
  };
}

/** Serves a unary method from an Observable-returning function; its first value is the answer. */
export function unaryHandler<Req, Res>(path: string, fn: (request: Req, ctx: Context) => Observable<Res>, scheduler: SchedulerLike = asyncScheduler): CallHandler<Req, Res> {
  return forRequest<Req, Res>(path, scheduler, (request, call, ctx) => {
    let answered = false;
    return defer(() => fn(request, ctx)).subscribe({
      next: (response) => {
        if (answered) return;
        answered = true;
        call.write(response);
        call.end();
      },
      error: (e: unknown) => call.fail(e),
      complete: () => answered || call.fail(internal(`${path}: the chain completed without a response`)),
    });
  });
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
): CallHandler<Req, Res> {
  return forRequest<Req, Res>(path, scheduler, (request, call, ctx) => {
    let allowance = maxBuffered;
    let subscribing = true;
    // Made first so `next` can cut even while the source is still emitting its snapshot
    // synchronously (adding to a closed Subscription tears the addition down at once).
    const subscription = new Subscription();
    subscription.add(defer(() => fn(request, ctx)).subscribe({
      next: (message) => {
        if (subscription.closed) return;
        if (subscribing) allowance++;
        else if (call.pending >= allowance) {
          subscription.unsubscribe();
          call.fail(resourceExhausted(`${path}: the reader fell ${call.pending} messages behind; call again for a fresh view`));
          return;
        }
        call.write(message);
      },
      error: (e: unknown) => call.fail(e),
      complete: () => call.end(),
    }));
    subscribing = false;
    return subscription;
  });
}

/**
 * Serves a bidirectional-streaming method from a function of the incoming messages: its
 * Observable's messages go out; it completing ends the call, an error ends it with its status;
 * the client cancelling (or its stream failing) unsubscribes. The incoming Observable completes
 * when the client half-closes.
 */
export function bidiStreamHandler<Req, Res>(fn: (requests: Observable<Req>, ctx: Context) => Observable<Res>, scheduler: SchedulerLike = asyncScheduler): CallHandler<Req, Res> {
  return (call) => {
    const requests = new Observable<Req>((subscriber) => call.listen({ message: (m) => subscriber.next(m), end: () => subscriber.complete(), error: (e) => subscriber.error(e) }));
    const subscription = defer(() => fn(requests, callContext(call, scheduler))).subscribe({
      next: (message) => call.write(message),
      error: (e: unknown) => call.fail(e),
      complete: () => call.end(),
    });
    call.onCancel(() => subscription.unsubscribe());
  };
}

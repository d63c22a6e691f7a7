import { asyncScheduler, defer, Observable, throwError, timer, type SchedulerLike } from 'rxjs';
import { retry, tap, timeout } from 'rxjs/operators';
import type { Context } from '../core/context.js';
import { deadlineExceeded, DialError } from '../core/errors.js';
import type { RegistryElement, RegistryHandler } from '../core/registry.js';

export interface RegistryRetryOptions {
  scheduler?: SchedulerLike;
  /** Time budget of one Register or Unregister try, ms (upstream: 15 s). Find tries have none. */
  tryTimeout?: number;
  /** Pause after a failed try, ms (upstream: 200 ms). */
  interval?: number;
  /** Told of every failed try that will be tried again (upstream logs each: "try attempt has failed"); `attempt` counts from 1. */
  onFailure?: (error: unknown, attempt: number) => void;
}

/** Deep copy of plain ts-proto messages, so that no try sees what an earlier one changed. */
const copy = <X>(x: X): X => structuredClone(x);

/**
 * `retry` (registry client): wraps a registry handler so that Register and Unregister are tried
 * again, `interval` after each failure, until one succeeds or the caller's deadline (if any)
 * would pass; each try gets a fresh copy and at most `tryTimeout`, and each failure is reported
 * (`onFailure`). Under a context without deadline it tries for ever, as upstream's daemons
 * register themselves at start: the order in which a mesh starts does not matter.
 *
 * Find is retried only when the stream could not be created (DialError: the registry was not
 * reachable) and has produced nothing yet: upstream retries the creation of the Find stream,
 * never a stream that was already delivering, nor an error the registry answered with. Its
 * tries have no time limit of their own (a watch lives as long as its caller wants).
 *
 * ```
 * register tries  -X-200ms-X-200ms-c|
 * result          -----------------c|
 * find tries      -X-200ms-a-b-X
 * result          ---------a-b-X       (an error after the first response is the caller's)
 * ```
 */
export function registryRetryClient<T, Q, R>(handler: RegistryHandler<T, Q, R>, options: RegistryRetryOptions = {}): RegistryHandler<T, Q, R> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const tryTimeout = options.tryTimeout ?? 15_000;
  const interval = options.interval ?? 200;

  /** Waits `interval` before the next try, or gives up with `err` if the deadline would pass first. */
  const pause = (ctx: Context, err: unknown, attempt: number): Observable<unknown> => {
    if (ctx.remaining(scheduler.now()) <= interval) return throwError(() => err);
    options.onFailure?.(err, attempt);
    return timer(interval, scheduler);
  };

  const withRetry = <X>(ctx: Context, attempt: (tryCtx: Context) => Observable<X>): Observable<X> =>
    defer(() => {
      const tryCtx = ctx.withDeadline(scheduler.now() + tryTimeout);
      return attempt(tryCtx).pipe(
        timeout({ first: tryTimeout, scheduler, with: () => throwError(() => deadlineExceeded(`try timed out after ${tryTimeout} ms`)) }),
      );
    }).pipe(retry({ delay: (err: unknown, attempt: number) => pause(ctx, err, attempt) }));

  const find = (query: Q, ctx: Context): Observable<R> =>
    defer(() => {
      let started = false;
      return defer(() => handler.find(copy(query), ctx).pipe(tap(() => (started = true)))).pipe(
        // Only a stream that could not be created is tried again (upstream retries stream
        // creation); an error the registry answered with, or one after results, is the caller's.
        retry({ delay: (err: unknown, attempt: number) => (started || !(err instanceof DialError) ? throwError(() => err) : pause(ctx, err, attempt)) }),
      );
    });

  return {
    register: (item, ctx) => withRetry(ctx, (tryCtx) => handler.register(copy(item), tryCtx)),
    find,
    unregister: (item, ctx) => withRetry(ctx, (tryCtx) => handler.unregister(copy(item), tryCtx)),
  };
}

/** `registryRetryClient` as a chain element, for `registryChain([begin, retry, heal, …])`. */
export function registryRetry<T, Q, R>(options: RegistryRetryOptions = {}): RegistryElement<T, Q, R> {
  return {
    register: (item, ctx, next) => registryRetryClient(next, options).register(item, ctx),
    find: (query, ctx, next) => registryRetryClient(next, options).find(query, ctx),
    unregister: (item, ctx, next) => registryRetryClient(next, options).unregister(item, ctx),
  };
}

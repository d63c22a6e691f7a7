import { asyncScheduler, defer, Observable, throwError, timer, type SchedulerLike } from 'rxjs';
import { retry, timeout } from 'rxjs/operators';
import { cloneConnection, cloneRequest } from '../core/clone.js';
import type { Context } from '../core/context.js';
import { deadlineExceeded } from '../core/errors.js';
import type { NetworkServiceHandler } from '../core/networkservice.js';

export interface RetryOptions {
  scheduler?: SchedulerLike;
  /** Time budget of one try (upstream: 15 s). */
  tryTimeout?: number;
  /** Pause after a failed try (upstream: 200 ms). */
  interval?: number;
  /** Told of every failed try that will be retried (a daemon logs it: a retry loop must not be silent). */
  onRetry?: (err: unknown) => void;
}

/**
 * `retryClient`: wraps a client so that Request and Close are tried again until they succeed or
 * the caller's deadline (if any) would pass; each try gets a fresh copy and its own budget.
 *
 * ```
 * tries   -X-200ms-X-200ms-c|
 * result  -----------------c|
 * ```
 */
export function retryClient(client: NetworkServiceHandler, options: RetryOptions = {}): NetworkServiceHandler {
  const scheduler = options.scheduler ?? asyncScheduler;
  const tryTimeout = options.tryTimeout ?? 15_000;
  const interval = options.interval ?? 200;

  const withRetry = <T>(ctx: Context, attempt: (tryCtx: Context) => Observable<T>): Observable<T> =>
    defer(() => {
      const tryCtx = ctx.withDeadline(scheduler.now() + tryTimeout);
      return attempt(tryCtx).pipe(
        timeout({ first: tryTimeout, scheduler, with: () => throwError(() => deadlineExceeded(`try timed out after ${tryTimeout} ms`)) }),
      );
    }).pipe(
      retry({
        delay: (err: unknown) => {
          if (ctx.remaining(scheduler.now()) <= interval) return throwError(() => err);
          options.onRetry?.(err);
          return timer(interval, scheduler);
        },
      }),
    );

  return {
    request: (request, ctx) => withRetry(ctx, (tryCtx) => client.request(cloneRequest(request), tryCtx)),
    close: (conn, ctx) => withRetry(ctx, (tryCtx) => client.close(cloneConnection(conn), tryCtx)),
  };
}

import { asyncScheduler, defer, type Observable, type SchedulerLike, throwError, timer } from 'rxjs';
import { retry, take, timeout } from 'rxjs/operators';
import { Context } from '../core/context.js';
import { deadlineExceeded } from '../core/errors.js';

export interface RegisterAtStartupOptions {
  scheduler?: SchedulerLike;
  /** Budget of one try, ms (upstream registry retry: 15 s). */
  tryTimeout?: number;
  /** Pause after a failed try, ms (upstream: 200 ms). */
  interval?: number;
  /** Told of every failed try (upstream logs each: "try attempt has failed"); `attempt` counts from 1. */
  onFailure?: (error: unknown, attempt: number) => void;
}

/**
 * `registerAtStartup`: a daemon's first Register of itself (an NSE, a forwarder, their network
 * services), tried until it is answered — with no total deadline, as upstream's cmd-* daemons
 * (their registry client's retry under a context without deadline): each try has `tryTimeout`,
 * the next one starts `interval` after a failure, and every failure is reported. So a daemon
 * may start before its nsmgr or registry: the order of starting does not matter.
 * Unsubscribing stops the tries (the daemon is shutting down).
 *
 * ```
 * tries   -X-200ms-X-200ms--a|
 * result  ------------------a|
 * onFailure  ^1      ^2
 * ```
 */
export function registerAtStartup<T>(register: (ctx: Context) => Observable<T>, options: RegisterAtStartupOptions = {}): Observable<T> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const tryTimeout = options.tryTimeout ?? 15_000;
  const interval = options.interval ?? 200;
  return defer(() =>
    register(Context.background.withDeadline(scheduler.now() + tryTimeout)).pipe(
      take(1),
      timeout({ first: tryTimeout, scheduler, with: () => throwError(() => deadlineExceeded(`try timed out after ${tryTimeout} ms`)) }),
    ),
  ).pipe(
    retry({
      delay: (error: unknown, attempt: number) => {
        options.onFailure?.(error, attempt);
        return timer(interval, scheduler);
      },
    }),
  );
}

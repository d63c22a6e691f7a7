import { asyncScheduler, defer, type SchedulerLike, type Subscription } from 'rxjs';
import { tap } from 'rxjs/operators';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { onSettle } from '../tools/onSettle.js';

export interface IdleTimeoutElement extends NetworkServiceElement {
  /** Stops the timer (the endpoint is shutting down anyway). */
  dispose(): void;
}

/**
 * `idleTimeout({timeout, onIdle})` (NSE, upstream idletimeout; cmd-nse NSM_IDLE_TIMEOUT): calls
 * `onIdle` once when the endpoint has had no connection for `timeout` ms — counted from its
 * start and again from each moment its last connection closed. A Request for a new connection
 * stops the count; a Request that fails leaves it as it was.
 *
 * ```
 * timeout 5   start ----R(a)----C(a)-----|idle          (5 after the last Close)
 *             start ----|idle                           (no Request within 5)
 * ```
 */
export function idleTimeout(options: { timeout: number; onIdle: () => void; scheduler?: SchedulerLike }): IdleTimeoutElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const connections = new Set<string>();
  let timer: Subscription | undefined;
  let fired = false;
  const arm = () => {
    timer?.unsubscribe();
    timer = scheduler.schedule(() => {
      fired = true;
      options.onIdle();
    }, options.timeout);
  };
  const disarm = () => {
    timer?.unsubscribe();
    timer = undefined;
  };
  arm();
  return {
    dispose: disarm,
    request: (request, ctx, next) =>
      defer(() => {
        const id = request.connection?.id ?? '';
        const isNew = !connections.has(id);
        if (isNew && !fired) disarm();
        return next.request(request, ctx).pipe(
          tap(() => connections.add(id)),
          onSettle(() => {
            // A new connection that did not come about leaves the endpoint as idle as before.
            if (isNew && !connections.has(id) && connections.size === 0 && !fired) arm();
          }),
        );
      }),
    close: (conn, ctx, next) =>
      next.close(conn, ctx).pipe(
        onSettle(() => {
          connections.delete(conn.id);
          if (connections.size === 0 && !fired) arm();
        }),
      ),
  };
}

import { asyncScheduler, EMPTY, timer, type SchedulerLike } from 'rxjs';
import { retry, switchMap, tap } from 'rxjs/operators';
import { timestampToMs } from '../core/path.js';
import type { NSEElement } from '../core/registry.js';
import { registryEventFactoryOf } from './begin.js';

export interface RegistryRefreshOptions {
  scheduler?: SchedulerLike;
  /** Pause after a failed refresh, ms (default 200). */
  retryInterval?: number;
}

/** The share of the time left at which a registration is refreshed (upstream: 2/3). */
export const registryRefreshShare = 2 / 3;

/** When to refresh a registration that expires at `expiry`: at 2/3 of the time left (upstream). */
export function registryRefreshAfter(expiry: number, now: number): number {
  return Math.max(0, (expiry - now) * registryRefreshShare);
}

/**
 * `refresh` (NSE registry, client side): keeps a registration alive by registering it again,
 * through the registry begin client, at 2/3 of the time left until the `expiration_time` the
 * registry answered: a loop the registration owns in begin. Failed refreshes are tried again every
 * 200 ms; each successful one replaces the loop with one timed from its own answer; Unregister
 * ends it. An answer without `expiration_time` is never refreshed.
 *
 * ```
 * register (expires in 60 s) --R----------------------------------------
 * refresh via begin          ------ 40 s --R(fail)-200ms-R ... 2/3 again
 * ```
 */
export function nseRefresh(options: RegistryRefreshOptions = {}): NSEElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const retryInterval = options.retryInterval ?? 200;
  return {
    register: (nse, ctx, next) =>
      next.register(nse, ctx).pipe(
        tap((answer) => {
          const factory = registryEventFactoryOf(ctx);
          if (factory === undefined) return;
          // A successful refresh comes back through here and replaces this loop; a skipped one (begin forgot the name) ends it.
          const refresh$ =
            answer.expirationTime === undefined
              ? EMPTY
              : timer(registryRefreshAfter(timestampToMs(answer.expirationTime), scheduler.now()), scheduler).pipe(
                  switchMap(() => factory.register().pipe(retry({ delay: () => timer(retryInterval, scheduler) }))),
                );
          factory.loop('refresh', refresh$);
        }),
      ),
  };
}

import { asyncScheduler, defer, Subscription, type SchedulerLike } from 'rxjs';
import { tap } from 'rxjs/operators';
import { timestampToMs } from '../core/path.js';
import type { NSEElement } from '../core/registry.js';
import { registryEventFactoryOf } from './begin.js';

export interface RegistryRefreshOptions {
  scheduler?: SchedulerLike;
  /** Pause after a failed refresh, ms (default 200). */
  retryInterval?: number;
}

/** `nseRefresh` with its live per-name refresh loops (for leak checks). */
export interface RegistryRefreshElement extends NSEElement {
  readonly names: ReadonlyMap<string, Subscription>;
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
 * registry answered. Failed refreshes are tried again every 200 ms; each successful one re-arms
 * from its own answer; Unregister stops it. An answer without `expiration_time` is never refreshed.
 *
 * ```
 * register (expires in 60 s) --R----------------------------------------
 * refresh via begin          ------ 40 s --R(fail)-200ms-R ... 2/3 again
 * ```
 */
export function nseRefresh(options: RegistryRefreshOptions = {}): RegistryRefreshElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const retryInterval = options.retryInterval ?? 200;
  const names = new Map<string, Subscription>();

  const disarm = (name: string): void => {
    const loop = names.get(name);
    names.delete(name);
    loop?.unsubscribe();
  };

  return {
    names,
    register: (nse, ctx, next) =>
      defer(() => {
        const factory = registryEventFactoryOf(ctx);
        const name = nse.name;
        return next.register(nse, ctx).pipe(
          tap((answer) => {
            disarm(name);
            if (factory === undefined || answer.expirationTime === undefined) return;
            const loop = new Subscription();
            const arm = (after: number): void => {
              loop.add(
                scheduler.schedule(() => {
                  // Detached from `loop`: the refresh passes through here and replaces the loop,
                  // which must not cancel the refresh itself. A failure tries again unless the
                  // loop was replaced or stopped meanwhile; a skipped event (begin forgot the
                  // name) ends the loop.
                  factory.register({ cancel: loop }).subscribe({
                    error: () => loop.closed || arm(retryInterval),
                    complete: () => names.get(name) === loop && disarm(name),
                  });
                }, after),
              );
            };
            arm(registryRefreshAfter(timestampToMs(answer.expirationTime), scheduler.now()));
            names.set(name, loop);
          }),
        );
      }),
    unregister: (nse, ctx, next) =>
      defer(() => {
        disarm(nse.name);
        return next.unregister(nse, ctx);
      }),
  };
}

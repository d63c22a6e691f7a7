import { asyncScheduler, defer, EMPTY, Subscription, throwError, timer, type SchedulerLike } from 'rxjs';
import { repeat, retry, tap } from 'rxjs/operators';
import {
  NetworkService,
  NetworkServiceEndpoint,
  type NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
  type NetworkServiceQuery,
  type NetworkServiceResponse,
} from '../../proto/gen/registry.js';
import { ContextKey } from '../core/context.js';
import type { RegistryElement } from '../core/registry.js';
import { registryEventFactoryOf } from './begin.js';

export interface RegistryHealOptions {
  scheduler?: SchedulerLike;
  /** Pause after a failed re-Register, and before a lost watch Find is opened again, ms (default 200). */
  retryInterval?: number;
}

/** A heal element with its live per-name watches (for leak checks). */
export interface RegistryHealElement<T extends { name: string }, Q, R> extends RegistryElement<T, Q, R> {
  readonly names: ReadonlyMap<string, Subscription>;
}

/** Set on the Finds heal itself reopens, so that a second heal further down does not heal them again. */
const findHealingKey = new ContextKey<true>('registry.heal.findHealing');

function makeHeal<T extends { name: string }, Q extends { watch: boolean }, R>(
  clone: (item: T) => T,
  queryFor: (name: string) => Q,
  cloneQuery: (query: Q) => Q,
  options: RegistryHealOptions,
): RegistryHealElement<T, Q, R> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const retryInterval = options.retryInterval ?? 200;
  const names = new Map<string, Subscription>();

  const disarm = (name: string): void => {
    const watch = names.get(name);
    names.delete(name);
    watch?.unsubscribe();
  };

  return {
    names,
    register: (item, ctx, next) =>
      defer(() => {
        const name = item.name;
        return next.register(clone(item), ctx).pipe(
          tap(() => {
            disarm(name);
            const factory = registryEventFactoryOf(ctx);
            if (factory === undefined) return;
            const watch = new Subscription();
            names.set(name, watch);
            // Re-Register until it works (it opens a fresh watch on the way back) or the watch
            // is replaced or stopped. Detached: the re-Register replaces `watch` on success and
            // must not cancel itself doing so.
            const heal = (): void => {
              factory.register({ cancel: watch }).subscribe({
                error: () => watch.closed || watch.add(scheduler.schedule(heal, retryInterval)),
                // Skipped (begin forgot the name): nothing left to heal.
                complete: () => names.get(name) === watch && disarm(name),
              });
            };
            // A watch that errors or ends means the registry went away (or restarted): heal at
            // once, except that a watch lost within `retryInterval` of opening waits out the
            // rest of it, so that a Find that always fails cannot spin Register/Find.
            const openedAt = scheduler.now();
            const lost = (): void => {
              if (watch.closed) return;
              const lived = scheduler.now() - openedAt;
              if (lived >= retryInterval) heal();
              else watch.add(scheduler.schedule(heal, retryInterval - lived));
            };
            watch.add(next.find(queryFor(name), ctx.withoutDeadline()).subscribe({ error: lost, complete: lost }));
          }),
        );
      }),
    // Watch Finds reconnect: a lost stream is opened again (after `retryInterval`) until
    // unsubscribed or the caller's deadline passed.
    find: (query, ctx, next) => {
      if (!query.watch || ctx.get(findHealingKey)) return next.find(query, ctx);
      const healingCtx = ctx.with(findHealingKey, true);
      const expired = () => ctx.remaining(scheduler.now()) <= 0;
      return defer(() => next.find(cloneQuery(query), healingCtx)).pipe(
        repeat({ delay: () => (expired() ? EMPTY : timer(retryInterval, scheduler)) }),
        retry({ delay: (err: unknown) => (expired() ? throwError(() => err) : timer(retryInterval, scheduler)) }),
      );
    },
    unregister: (item, ctx, next) =>
      defer(() => {
        disarm(item.name);
        return next.unregister(item, ctx);
      }),
  };
}

/**
 * `heal` (NSE registry, client side): after a successful Register it keeps a
 * `Find{name, watch: true}` open on the rest of the chain. When that stream errors or ends (the
 * registry died or restarted), it registers again through the registry begin client (every
 * 200 ms until it works or the name is unregistered); the successful re-Register opens a new
 * watch. A watch lost less than 200 ms after it opened waits out the rest of the 200 ms first.
 * Unregister cancels the watch. Watch Finds passing through reconnect on their own.
 *
 * ```
 * register      --R----------------------------
 * watch         ---W--------X                  (registry restarted)
 * re-register   -------------R(fail)-200ms-R   (and a new watch)
 * ```
 */
export function nseHeal(options: RegistryHealOptions = {}): RegistryHealElement<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> {
  return makeHeal<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(
    (nse) => NetworkServiceEndpoint.fromPartial(nse),
    (name) => ({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name }), watch: true }),
    (q) => ({ ...q, networkServiceEndpoint: q.networkServiceEndpoint && NetworkServiceEndpoint.fromPartial(q.networkServiceEndpoint) }),
    options,
  );
}

/** `heal` (NS registry, client side): as `nseHeal`, watching `Find{name, watch: true}` for the network service. */
export function nsHeal(options: RegistryHealOptions = {}): RegistryHealElement<NetworkService, NetworkServiceQuery, NetworkServiceResponse> {
  return makeHeal<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(
    (ns) => NetworkService.fromPartial(ns),
    (name) => ({ networkService: NetworkService.fromPartial({ name }), watch: true }),
    (q) => ({ ...q, networkService: q.networkService && NetworkService.fromPartial(q.networkService) }),
    options,
  );
}

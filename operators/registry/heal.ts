import { asyncScheduler, concat, defer, EMPTY, throwError, timer, type SchedulerLike } from 'rxjs';
import { catchError, ignoreElements, repeat, retry, tap } from 'rxjs/operators';
import {
  NetworkService,
  NetworkServiceEndpoint,
  type NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
  type NetworkServiceQuery,
  type NetworkServiceResponse,
} from '../../proto/gen/registry.js';
import { watchReopenedByCallerKey, type RegistryElement } from '../core/registry.js';
import { registryEventFactoryOf } from './begin.js';

export interface RegistryHealOptions {
  scheduler?: SchedulerLike;
  /** Pause after a failed re-Register, and before a lost watch Find is opened again, ms (default 200). */
  retryInterval?: number;
}

function makeHeal<T extends { name: string }, Q extends { watch: boolean }, R>(
  clone: (item: T) => T,
  queryFor: (name: string) => Q,
  cloneQuery: (query: Q) => Q,
  options: RegistryHealOptions,
): RegistryElement<T, Q, R> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const retryInterval = options.retryInterval ?? 200;
  return {
    register: (item, ctx, next) =>
      next.register(clone(item), ctx).pipe(
        tap(() => {
          const factory = registryEventFactoryOf(ctx);
          if (factory === undefined) return;
          // A watch that errors or ends means the registry went away (or restarted): register
          // again until it works; the re-Register comes back through here and opens a fresh
          // watch. A watch lost within `retryInterval` of opening waits out the rest of it first,
          // so that a Find that always fails cannot spin Register/Find.
          const openedAt = scheduler.now();
          factory.loop(
            'heal',
            concat(
              next.find(queryFor(item.name), ctx.withoutDeadline()).pipe(ignoreElements(), catchError(() => EMPTY)),
              defer(() => timer(Math.max(0, openedAt + retryInterval - scheduler.now()), scheduler)),
              defer(() => factory.register()).pipe(retry({ delay: () => timer(retryInterval, scheduler) })),
            ),
          );
        }),
      ),
    // Watch Finds reconnect: a lost stream is opened again (after `retryInterval`) until
    // unsubscribed or the caller's deadline passed.
    find: (query, ctx, next) => {
      // Its caller reopens it (a second heal further down, or liveFind): not healed twice.
      if (!query.watch || ctx.get(watchReopenedByCallerKey)) return next.find(query, ctx);
      const healingCtx = ctx.with(watchReopenedByCallerKey, true);
      const expired = () => ctx.remaining(scheduler.now()) <= 0;
      return defer(() => next.find(cloneQuery(query), healingCtx)).pipe(
        repeat({ delay: () => (expired() ? EMPTY : timer(retryInterval, scheduler)) }),
        retry({ delay: (err: unknown) => (expired() ? throwError(() => err) : timer(retryInterval, scheduler)) }),
      );
    },
  };
}

/**
 * `heal` (NSE registry, client side): after a successful Register it keeps a
 * `Find{name, watch: true}` open on the rest of the chain, in a loop the registration owns in
 * the registry begin client. When that stream errors or ends (the
 * registry died or restarted), it registers again through the registry begin client (every
 * 200 ms until it works or the name is unregistered); the successful re-Register opens a new
 * watch. A watch lost less than 200 ms after it opened waits out the rest of the 200 ms first.
 * Unregister ends the loop and its watch. Watch Finds passing through reconnect on their own,
 * unless their caller reopens them itself (`watchReopenedByCallerKey`: liveFind reads anew).
 *
 * ```
 * register      --R----------------------------
 * watch         ---W--------X                  (registry restarted)
 * re-register   -------------R(fail)-200ms-R   (and a new watch)
 * ```
 */
export function nseHeal(options: RegistryHealOptions = {}): RegistryElement<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> {
  return makeHeal<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(
    (nse) => NetworkServiceEndpoint.fromPartial(nse),
    (name) => ({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name }), watch: true }),
    (q) => ({ ...q, networkServiceEndpoint: q.networkServiceEndpoint && NetworkServiceEndpoint.fromPartial(q.networkServiceEndpoint) }),
    options,
  );
}

/** `heal` (NS registry, client side): as `nseHeal`, watching `Find{name, watch: true}` for the network service. */
export function nsHeal(options: RegistryHealOptions = {}): RegistryElement<NetworkService, NetworkServiceQuery, NetworkServiceResponse> {
  return makeHeal<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(
    (ns) => NetworkService.fromPartial(ns),
    (name) => ({ networkService: NetworkService.fromPartial({ name }), watch: true }),
    (q) => ({ ...q, networkService: q.networkService && NetworkService.fromPartial(q.networkService) }),
    options,
  );
}

import { asyncScheduler, concat, defer, type SchedulerLike } from 'rxjs';
import { map } from 'rxjs/operators';
import {
  NetworkService,
  NetworkServiceEndpoint,
  type NetworkServiceEndpointResponse,
  type NetworkServiceResponse,
} from '../../proto/gen/registry.js';
import { RegistryStore } from '../../streams/registryStore.js';
import type { NSEElement, NSElement } from '../core/registry.js';
import { isExpired, matchNetworkService, matchNetworkServiceEndpoint } from './matching.js';

export type NSStore = RegistryStore<NetworkService>;
export type NSEStore = RegistryStore<NetworkServiceEndpoint>;

/** An empty store of network services, keyed by name; items are deep-copied in and out. */
export const newNSStore = (): NSStore => new RegistryStore<NetworkService>((ns) => ns.name, (ns) => NetworkService.fromPartial(ns));

/** An empty store of network service endpoints, keyed by name; items are deep-copied in and out. */
export const newNSEStore = (): NSEStore =>
  new RegistryStore<NetworkServiceEndpoint>((nse) => nse.name, (nse) => NetworkServiceEndpoint.fromPartial(nse));

export interface NseMemoryOptions {
  /** Clock for "has this NSE expired" (`expiration_time` vs `scheduler.now()`). */
  scheduler?: SchedulerLike;
}

/**
 * `memory` (NS registry; upstream registry/common/memory): the registry's store.
 * - Register: the rest of the chain first, then its answer is stored under its name (a known
 *   name is replaced: that is how a refresh or an update lands) and every matching watcher hears
 *   it; returns a copy of what was stored.
 * - Unregister: removes the name (watchers hear it with `deleted`), then the rest of the chain.
 *   An unknown name is a no-op that succeeds.
 * - Find: the stored services matching the query (`matchNetworkService`), then the rest of the
 *   chain's Find; with `watch`, every later matching change stays in between until unsubscribed.
 */
export function nsMemory(store: NSStore): NSElement {
  return {
    register: (ns, ctx, next) => defer(() => next.register(ns, ctx).pipe(map((answer) => store.put(answer)))),
    unregister: (ns, ctx, next) =>
      defer(() => {
        store.delete(ns.name);
        return next.unregister(ns, ctx);
      }),
    find: (query, ctx, next) =>
      defer(() => {
        const own = store
          .watch((ns) => matchNetworkService(query.networkService, ns), query.watch)
          .pipe(map((c): NetworkServiceResponse => ({ networkService: c.item, deleted: c.deleted })));
        return concat(own, next.find(query, ctx));
      }),
  };
}

/**
 * `memory` (NSE registry): as {@link nsMemory}, with NSE matching
 * (`matchNetworkServiceEndpoint`), and Find never answers with an expired NSE: one whose
 * `expiration_time` is not after `scheduler.now()` when the answer is sent (NSEs without one are
 * valid). Removals are always sent, expired or not, so a watcher never keeps a stale entry.
 * Expiry itself produces no event: the `expire` element unregisters a lapsed NSE, and that
 * Unregister is what watchers hear. As upstream, a watching Find asks the rest of the chain
 * first, a one-shot Find last.
 */
export function nseMemory(store: NSEStore, options: NseMemoryOptions = {}): NSEElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  return {
    register: (nse, ctx, next) => defer(() => next.register(nse, ctx).pipe(map((answer) => store.put(answer)))),
    unregister: (nse, ctx, next) =>
      defer(() => {
        store.delete(nse.name);
        return next.unregister(nse, ctx);
      }),
    find: (query, ctx, next) =>
      defer(() => {
        const wanted = (nse: NetworkServiceEndpoint, deleted: boolean): boolean =>
          matchNetworkServiceEndpoint(query.networkServiceEndpoint, nse) && (deleted || !isExpired(nse, scheduler.now()));
        const own = store
          .watch(wanted, query.watch)
          .pipe(map((c): NetworkServiceEndpointResponse => ({ networkServiceEndpoint: c.item, deleted: c.deleted })));
        return query.watch ? concat(next.find(query, ctx), own) : concat(own, next.find(query, ctx));
      }),
  };
}

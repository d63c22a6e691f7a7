import { AsyncSubject, asyncScheduler, defer, from, NEVER, ReplaySubject, type Observable, type SchedulerLike } from 'rxjs';
import { distinctUntilChanged, finalize, map, takeUntil } from 'rxjs/operators';
import { NetworkService, NetworkServiceEndpoint } from '../proto/gen/registry.js';
import { Context } from '../operators/core/context.js';
import type { NSEHandler, NSHandler } from '../operators/core/registry.js';
import { liveFind, type Found } from './liveFind.js';
import { linger } from '../operators/tools/linger.js';

/** How long a view nobody reads keeps its watch for the next reader, ms (upstream querycache: 1 min). */
export const VIEW_LINGER = 60_000;

export interface SharedViewsOptions {
  scheduler?: SchedulerLike;
  /** How long a view without readers stays open, ms (default {@link VIEW_LINGER}). */
  linger?: number;
}

/**
 * Views shared by key: one source per key however many readers, its latest value replayed to
 * each new reader. When the last reader leaves, the source lingers `linger` ms for the next one,
 * then ends; `dispose` ends every source at once (the node stops) and later readers get nothing.
 *
 * ```
 * reader 1     ^-----!
 * reader 2        ^-------!
 * source       ^-a--b---------- linger --!      (one subscription)
 * reader 1     -(a)-b                            reader 2: (a)-b
 * ```
 */
export class SharedViews<V> {
  private readonly views = new Map<string, Observable<V>>();
  private readonly disposed = new AsyncSubject<true>();
  private stopped = false;
  private readonly scheduler: SchedulerLike;
  private readonly linger: number;

  constructor(options: SharedViewsOptions = {}) {
    this.scheduler = options.scheduler ?? asyncScheduler;
    this.linger = options.linger ?? VIEW_LINGER;
  }

  /** The shared view of `key`; `open` makes its source when no reader or lingering view has it. */
  view(key: string, open: () => Observable<V>): Observable<V> {
    return defer(() => {
      // After dispose nothing may start again (a completing view would make readers that repeat spin).
      if (this.stopped) return NEVER;
      let view = this.views.get(key);
      if (view === undefined) {
        const made: Observable<V> = open().pipe(
          takeUntil(this.disposed),
          finalize(() => this.views.get(key) === made && this.views.delete(key)),
          linger(this.linger, this.scheduler, () => new ReplaySubject<V>(1)),
        );
        this.views.set(key, (view = made));
      }
      return view;
    });
  }

  /** The view of `key` right now; undefined while it has none yet (its source is then started, and lingers). */
  current(key: string, open: () => Observable<V>): V | undefined {
    let latest: V | undefined;
    this.view(key, open)
      .subscribe((v) => (latest = v))
      .unsubscribe();
    return latest;
  }

  /** Sources open now (tests). */
  get size(): number {
    return this.views.size;
  }

  /** Ends every source and lets none start again. */
  dispose(): void {
    this.stopped = true;
    this.disposed.next(true);
    this.disposed.complete();
  }
}

/**
 * What discovery reads instead of a one-shot Find: live registry views shared by every
 * connection of a node (upstream's querycache, as watches). `undefined` is a miss — not in the
 * view, or no view yet — on which the caller Finds once, so an entry registered a moment ago is
 * still found.
 */
export interface RegistryViews {
  /** The network service `name` (with `payload`, when not empty) as the view has it. */
  networkService(name: string, payload?: string): NetworkService | undefined;
  /** Every version of the network service `name` (undefined while it is not registered). */
  networkServiceVersions(name: string): Observable<NetworkService | undefined>;
  /** The endpoints a Find for `query` returns, as the view has them. */
  endpoints(query: Partial<NetworkServiceEndpoint>): readonly NetworkServiceEndpoint[] | undefined;
  /** Views open now (tests). */
  readonly size: number;
  /** Ends every view's watch (the node stops). */
  dispose(): void;
}

export interface RegistryViewsOptions extends SharedViewsOptions {
  /** Pause before a broken watch is found again, ms (liveFind's default). */
  retryInterval?: number;
}

/**
 * Registry views over `ns` and `nse` (a node's registry client): one reconnecting Find watch
 * ({@link liveFind}) per network service name and per endpoint query, whatever the number of
 * readers. Deletions on the watch (unregister, and expiry, which registries send as one) leave
 * the view; after the registry restarts the view is read again whole.
 */
export function registryViews(registry: { readonly ns: NSHandler; readonly nse: NSEHandler }, options: RegistryViewsOptions = {}): RegistryViews {
  const find = { ...(options.scheduler ? { scheduler: options.scheduler } : {}), ...(options.retryInterval !== undefined ? { retryInterval: options.retryInterval } : {}) };
  const services = new SharedViews<ReadonlyMap<string, NetworkService>>(options);
  const endpoints = new SharedViews<ReadonlyMap<string, NetworkServiceEndpoint>>(options);
  const openService = (name: string) => () =>
    liveFind(
      registry.ns.find,
      (watch) => ({ networkService: NetworkService.fromPartial({ name }), watch }),
      (r): Found<NetworkService> | undefined => r.networkService && { item: r.networkService, deleted: r.deleted },
      Context.background,
      find,
    );
  return {
    networkService: (name, payload = '') => {
      const service = services.current(name, openService(name))?.get(name);
      return service !== undefined && (payload === '' || service.payload === payload) ? service : undefined;
    },
    networkServiceVersions: (name) =>
      services.view(name, openService(name)).pipe(
        map((view) => view.get(name)),
        distinctUntilChanged(),
      ),
    endpoints: (partial) => {
      const query = NetworkServiceEndpoint.fromPartial(partial);
      const view = endpoints.current(JSON.stringify(NetworkServiceEndpoint.toJSON(query)), () =>
        liveFind(
          registry.nse.find,
          (watch) => ({ networkServiceEndpoint: query, watch }),
          (r): Found<NetworkServiceEndpoint> | undefined => r.networkServiceEndpoint && { item: r.networkServiceEndpoint, deleted: r.deleted },
          Context.background,
          find,
        ),
      );
      return view && [...view.values()];
    },
    get size() {
      return services.size + endpoints.size;
    },
    dispose: () => {
      services.dispose();
      endpoints.dispose();
    },
  };
}

/**
 * `nse` whose one-shot Finds by name alone are answered from a view of that name when it has the
 * endpoint (upstream querycache: a watch per name); any other Find, or a miss, goes to `nse`.
 */
export function findByNameFromViews(views: RegistryViews, nse: NSEHandler): NSEHandler {
  return {
    ...nse,
    find: (query, ctx) => {
      const q = query.networkServiceEndpoint;
      const byNameOnly = !query.watch && q !== undefined && q.name !== '' && JSON.stringify(NetworkServiceEndpoint.toJSON(q)) === JSON.stringify({ name: q.name });
      const hit = byNameOnly ? views.endpoints({ name: q.name }) : undefined;
      return hit?.length ? from(hit.map((e) => ({ networkServiceEndpoint: e, deleted: false }))) : nse.find(query, ctx);
    },
  };
}

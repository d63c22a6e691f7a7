import { status } from '../core/status.js';
import { asyncScheduler, concat, concatMap, defer, filter, firstValueFrom, from, take, timeout, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { NetworkService, NetworkServiceEndpoint, type NetworkServiceEndpointQuery, type NetworkServiceEndpointResponse, type NetworkServiceQuery, type NetworkServiceResponse } from '../../proto/gen/registry.js';
import { isStatus, KubeApiError, type KubeClient } from '../../k8s/client.js';
import type { InformerView } from '../../k8s/informer.js';
import type { Informers } from '../../k8s/informers.js';
import { customResource, nseOf, nseSpec, nsOf, nsSpec, objectNameProblem } from '../../k8s/registryResources.js';
import { keyOf, networkServiceEndpoints, networkServices, type KubeObject, type Resource } from '../../k8s/resource.js';
import { invalidArgument, NsmError } from '../core/errors.js';
import type { RegistryElement, RegistryHandler } from '../core/registry.js';
import { silentLogger, type Logger } from '../tools/log.js';
import { isExpired, matchNetworkService, matchNetworkServiceEndpoint } from './matching.js';

export interface CustomResourcesOptions {
  readonly client: KubeClient;
  readonly informers: Informers;
  /** Where registrations are written (NSM_NAMESPACE); Find reads every namespace, as upstream. */
  readonly namespace: string;
  readonly scheduler?: SchedulerLike;
  readonly log?: Logger;
}

/** A registry element with a keep-alive subscription to its informer: `dispose()` ends it. */
export type CustomResourcesElement<T, Q, R> = RegistryElement<T, Q, R> & { dispose(): void };

/** What differs between the two kinds. */
interface Kind<T, Q, R> {
  readonly resource: Resource;
  readonly label: string;
  readonly generateName: string;
  spec(item: T): Record<string, unknown>;
  of(o: KubeObject): T;
  matches(query: Q, item: T, deleted: boolean, now: number): boolean;
  response(item: T, deleted: boolean): R;
  /** An NSE whose expiration has passed: skipped by Find, and its resource deleted. */
  expired(item: T, now: number): boolean;
  /** Order of a Find's own answers and the rest of the chain's. */
  find(own: Observable<R>, query: Q, next: Observable<R>): Observable<R>;
}

const attempts = 5;
/** Longest a Register or Unregister waits for the informer to show its write. */
const settleMs = 5_000;

/** A Kubernetes refusal as a gRPC status that names it. */
function grpcError(e: unknown): Error {
  if (e instanceof NsmError || !(e instanceof KubeApiError)) return e as Error;
  const code = e.code === 0 ? status.UNAVAILABLE : e.code === 403 || e.code === 401 ? status.PERMISSION_DENIED : e.code === 400 || e.code === 422 ? status.INVALID_ARGUMENT : status.INTERNAL;
  return new NsmError(code, e.message);
}

const resourceVersionOf = (v: string | undefined): number => Number(v ?? NaN);

function customResources<T extends { name: string }, Q extends { watch: boolean }, R>(kind: Kind<T, Q, R>, options: CustomResourcesOptions): CustomResourcesElement<T, Q, R> {
  const { client, namespace } = options;
  const scheduler = options.scheduler ?? asyncScheduler;
  const log = options.log ?? silentLogger;
  const view$ = options.informers.view<KubeObject>(kind.resource);
  // Held for the element's life: the list+watch runs once, Find and Register read it.
  const keepAlive: Subscription = view$.subscribe();

  /** Each object parsed once; a malformed one is skipped, with one warning. */
  const parsed = new WeakMap<KubeObject, T | undefined>();
  const parse = (o: KubeObject): T | undefined => {
    if (parsed.has(o)) return parsed.get(o);
    let item: T | undefined;
    try {
      item = kind.of(o);
    } catch (e) {
      log.warn(`skipping a malformed ${kind.label} resource`, { resource: keyOf(o), why: (e as Error).message });
    }
    parsed.set(o, item);
    return item;
  };

  /** Resolves once the informer has seen the object at `rv` or later (gone: `undefined` rv), so a Find after a write sees it. */
  const settled = (key: string, rv: string | undefined): Promise<unknown> =>
    firstValueFrom(
      view$.pipe(
        filter((v: InformerView<KubeObject>) => (rv === undefined ? !v.items.has(key) : v.items.get(key)?.metadata.resourceVersion === rv || resourceVersionOf(v.resourceVersion) >= resourceVersionOf(rv))),
        timeout({ first: settleMs, scheduler }),
      ),
    ).catch(() => undefined);

  const write = async (item: T): Promise<T> => {
    const problem = item.name === '' ? undefined : objectNameProblem(item.name);
    if (problem) throw invalidArgument(`${kind.label} name "${item.name}" is refused by Kubernetes as a resource name: it ${problem}`);
    const spec = kind.spec(item);
    for (let i = 0; ; i++) {
      try {
        const stored = await client.create(kind.resource, customResource(kind.resource, namespace, item.name, spec, kind.generateName));
        await settled(keyOf(stored), stored.metadata.resourceVersion);
        return { ...item, name: stored.metadata.name ?? item.name };
      } catch (e) {
        if (!isStatus(e, 409) || i === attempts) throw grpcError(e);
      }
      // AlreadyExists: replace the spec of what is there; a Conflict (changed meanwhile) starts over.
      try {
        const current = await client.get(kind.resource, namespace, item.name);
        const stored = await client.update(kind.resource, { ...current, spec });
        await settled(keyOf(stored), stored.metadata.resourceVersion);
        return item;
      } catch (e) {
        if (!(isStatus(e, 409) || isStatus(e, 404)) || i === attempts) throw grpcError(e);
      }
    }
  };

  /** Deletes `name` in `ns` if it is there, with its resourceVersion as precondition (a Conflict re-reads). */
  const remove = async (ns: string, name: string): Promise<void> => {
    const key = `${ns}/${name}`;
    for (let i = 0; ; i++) {
      const held = (await firstValueFrom(view$)).items.get(key);
      if (held === undefined) return;
      try {
        await client.delete(kind.resource, ns, name, held.metadata.resourceVersion);
        await settled(key, undefined);
        return;
      } catch (e) {
        if (isStatus(e, 404)) return;
        if (!isStatus(e, 409) || i === attempts) throw grpcError(e);
      }
    }
  };

  return {
    register: (item, ctx, next) => next.register(item, ctx).pipe(concatMap((answer) => from(write(answer)))),
    unregister: (item, ctx, next) => concat(defer(() => from(remove(namespace, item.name))).pipe(filter(() => false)), next.unregister(item, ctx)),
    find: (query, ctx, next: RegistryHandler<T, Q, R>) => {
      const views = query.watch ? view$ : view$.pipe(take(1));
      const own = views.pipe(
        // The first view is the current state; later ones carry what changed.
        concatMap((v, i) => (i === 0 ? [...v.items.values()].map((o) => ({ o, deleted: false })) : v.changes.map((c) => ({ o: c.object, deleted: c.type === 'DELETED' })))),
        concatMap(({ o, deleted }) => {
          const item = parse(o);
          if (item === undefined) return [];
          const now = scheduler.now();
          if (!deleted && kind.expired(item, now)) {
            // Left by a registry that died before expiring it: cleaned lazily, as upstream.
            remove(o.metadata.namespace ?? namespace, o.metadata.name ?? '').catch((e: unknown) => log.debug('could not delete an expired resource', { resource: keyOf(o), why: String(e) }));
            return [];
          }
          return kind.matches(query, item, deleted, now) ? [kind.response(item, deleted)] : [];
        }),
      );
      return kind.find(own, query, next.find(query, ctx));
    },
    dispose: () => keepAlive.unsubscribe(),
  };
}

/**
 * The NS registry's store in Kubernetes (upstream sdk-k8s registry `etcd`): each network service
 * is a `NetworkService` custom resource named after it in NSM_NAMESPACE, spec in upstream's
 * layout. Register creates it (an existing one gets the new spec; a conflict re-reads and
 * retries), Unregister deletes it, Find reads the shared informer of every namespace —
 * the current matches, then with `watch` every later change — so a Register has returned only
 * once Find sees it.
 */
export function nsCustomResources(options: CustomResourcesOptions): CustomResourcesElement<NetworkService, NetworkServiceQuery, NetworkServiceResponse> {
  return customResources<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(
    {
      resource: networkServices,
      label: 'NetworkService',
      generateName: 'netsvc-',
      spec: nsSpec,
      of: nsOf,
      matches: (query, ns) => matchNetworkService(query.networkService, ns),
      response: (ns, deleted) => ({ networkService: NetworkService.fromPartial(ns), deleted }),
      expired: () => false,
      find: (own, _query, next) => concat(own, next),
    },
    options,
  );
}

/**
 * The NSE registry's store in Kubernetes: as {@link nsCustomResources} with `NetworkServiceEndpoint`
 * resources. Find never answers with an expired NSE (and deletes its resource, as upstream
 * cleans up after a registry that died); removals are always sent.
 */
export function nseCustomResources(options: CustomResourcesOptions): CustomResourcesElement<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> {
  return customResources<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(
    {
      resource: networkServiceEndpoints,
      label: 'NetworkServiceEndpoint',
      generateName: 'nse-',
      spec: nseSpec,
      of: nseOf,
      matches: (query, nse) => matchNetworkServiceEndpoint(query.networkServiceEndpoint, nse),
      response: (nse, deleted) => ({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial(nse), deleted }),
      expired: (nse, now) => isExpired(nse, now),
      // As the memory registry: a watching Find asks the rest of the chain first.
      find: (own, query, next) => (query.watch ? concat(next, own) : concat(own, next)),
    },
    options,
  );
}

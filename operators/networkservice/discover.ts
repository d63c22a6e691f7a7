import { asyncScheduler, defer, Observable, of, throwError, type SchedulerLike } from 'rxjs';
import { catchError, filter, map, mergeMap, toArray } from 'rxjs/operators';
import type { Connection } from '../../proto/gen/connection.js';
import { NetworkService, NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { cloneRequest } from '../core/clone.js';
import { ContextKey, type Context } from '../core/context.js';
import { invalidArgument, messageOf, notFound, NsmError, statusOf, unavailable } from '../core/errors.js';
import type { NetworkServiceElement, NetworkServiceHandler } from '../core/networkservice.js';
import type { NSEHandler, NSHandler } from '../core/registry.js';
import type { RegistryViews } from '../../streams/registryViews.js';
import { matchEndpoint } from '../registry/matching.js';
import { silentLogger, type Logger } from '../tools/log.js';
import { parseNsmUrl, type NsmUrl } from '../tools/nsmUrl.js';
import { clientUrlKey, clientUrlOf } from './clientUrl.js';

/** What `discover` hands to `roundRobin`: the network service and the endpoints that may serve it. */
export interface Candidates {
  readonly networkService: NetworkService;
  readonly endpoints: readonly NetworkServiceEndpoint[];
}

const candidatesKey = new ContextKey<Candidates>('discover.candidates');

/** The candidates `discover` found for this call (undefined when it did not run or skipped). */
export function candidatesOf(ctx: Context): Candidates | undefined {
  return ctx.get(candidatesKey);
}

/** A context carrying `candidates` (what `discover` does; for tests and custom selectors). */
export function withCandidates(ctx: Context, candidates: Candidates): Context {
  return ctx.with(candidatesKey, candidates);
}

/** Keeps the registry's status code and says what was being looked up. */
const wrapFindError =
  (what: string) =>
  <T>(source: Observable<T>): Observable<T> =>
    source.pipe(catchError((e: unknown) => throwError(() => new NsmError(statusOf(e), `failed to find ${what}: ${messageOf(e)}`))));

/** Every network service a one-shot Find (watch=false) for `query` returns. */
export function findNetworkServices(ns: NSHandler, query: Partial<NetworkService>, ctx: Context): Observable<NetworkService[]> {
  const q = NetworkService.fromPartial(query);
  return defer(() => ns.find({ networkService: q, watch: false }, ctx)).pipe(
    filter((r) => !r.deleted && r.networkService !== undefined),
    map((r) => r.networkService as NetworkService),
    toArray(),
    wrapFindError(`network service ${JSON.stringify(q.name)}`),
  );
}

/** Every endpoint a one-shot Find (watch=false) for `query` returns. */
export function findEndpoints(nse: NSEHandler, query: Partial<NetworkServiceEndpoint>, ctx: Context): Observable<NetworkServiceEndpoint[]> {
  const q = NetworkServiceEndpoint.fromPartial(query);
  const what =
    q.name !== ''
      ? `network service endpoint ${JSON.stringify(q.name)}`
      : `network service endpoints of ${q.networkServiceNames.map((n) => JSON.stringify(n)).join(', ') || 'any service'}`;
  return defer(() => nse.find({ networkServiceEndpoint: q, watch: false }, ctx)).pipe(
    filter((r) => !r.deleted && r.networkServiceEndpoint !== undefined),
    map((r) => r.networkServiceEndpoint as NetworkServiceEndpoint),
    toArray(),
    wrapFindError(what),
  );
}

/**
 * The network service `name` as the registry has it (upstream queries name and payload, so a
 * request for a payload the service does not carry finds nothing). NOT_FOUND naming it if absent.
 */
export function discoverNetworkService(ns: NSHandler, name: string, payload: string, ctx: Context): Observable<NetworkService> {
  return findNetworkServices(ns, { name, payload }, ctx).pipe(
    map((list) => {
      const found = list.find((s) => s.name === name);
      if (found === undefined) {
        throw notFound(`network service ${JSON.stringify(name)} is not found${payload !== '' ? ` (with payload ${payload})` : ''}`);
      }
      return found;
    }),
  );
}

/** The endpoint registered as `name` (no expiry check, as upstream). NOT_FOUND if absent. */
export function discoverEndpointByName(nse: NSEHandler, name: string, ctx: Context): Observable<NetworkServiceEndpoint> {
  return findEndpoints(nse, { name }, ctx).pipe(
    map((list) => {
      const found = list.find((e) => e.name === name);
      if (found === undefined) throw notFound(`network service endpoint ${JSON.stringify(name)} is not found`);
      return found;
    }),
  );
}

/** The URL an endpoint registered; UNAVAILABLE (it cannot be dialled) when it is not an NSM URL. */
export function endpointUrl(nse: NetworkServiceEndpoint, kind = 'network service endpoint'): NsmUrl {
  try {
    return parseNsmUrl(nse.url);
  } catch (e) {
    throw unavailable(`${kind} ${JSON.stringify(nse.name)} has an unusable url: ${messageOf(e)}`);
  }
}

/** What the view has (`fromView`), else what a one-shot lookup finds: a miss is never final. */
export function viewOrFind<T>(fromView: T | undefined, find: () => Observable<T>): Observable<T> {
  return fromView !== undefined ? of(fromView) : find();
}

export interface DiscoverOptions {
  readonly ns: NSHandler;
  readonly nse: NSEHandler;
  /** The node's live registry views, read before any Find (none: every lookup is a Find). */
  readonly views?: RegistryViews;
  /** Clock for dropping expired endpoints (default asyncScheduler). */
  readonly scheduler?: SchedulerLike;
  /** Where Close reports what it could not resolve (Close never fails for that). */
  readonly logger?: Logger;
}

/**
 * `discover` (server side; forwarder and nsmgr-proxy): decides where this hop's Request goes.
 *
 * - A client URL already in the context → nothing to do.
 * - `network_service_endpoint_name` set (a pinned or already chosen endpoint) → Find that NSE by
 *   name, its URL into the context; NOT_FOUND if it is not registered.
 * - Otherwise Find the network service (NOT_FOUND naming it), Find its endpoints, drop the
 *   expired ones (scheduler time), keep those `matchEndpoint` allows for the request's labels
 *   (NOT_FOUND if none), copy the service's payload into the connection and hand the candidates
 *   to `roundRobin` through the context ({@link candidatesOf}).
 *
 * With `views` (the node's live registry views) every lookup reads the view first and Finds
 * only on a miss — not in the view, no endpoint there qualifies, or no view yet — so an
 * endpoint registered a moment ago is still found.
 *
 * Close resolves the URL from the NSE name when it can and always calls next, so this hop's
 * state is released even when the registry has forgotten the endpoint.
 *
 * ```
 * request ─R──────────────────────────────────▶ next (ctx + candidates, payload set)
 * ns.find    └─{ns}|
 * nse.find          └─{a,b(expired),c}|  → matchEndpoint(labels) → [a, c]
 * ```
 */
export function discover(options: DiscoverOptions): NetworkServiceElement {
  const { ns, nse, views } = options;
  const scheduler = options.scheduler ?? asyncScheduler;
  const logger = options.logger ?? silentLogger;

  return {
    request: (request, ctx, next) =>
      defer(() => {
        if (clientUrlOf(ctx) !== undefined) return next.request(request, ctx);
        const conn = request.connection;
        if (conn === undefined) return throwError(() => invalidArgument('request has no connection'));

        if (conn.networkServiceEndpointName !== '') {
          return endpointNamed(options, conn.networkService, conn.networkServiceEndpointName, ctx).pipe(
            mergeMap((found) => next.request(request, ctx.with(clientUrlKey, endpointUrl(found)))),
          );
        }

        const now = scheduler.now();
        /** The view's candidates; undefined when it has none that match (a miss). */
        const fromView = (): Candidates | undefined => {
          const service = views?.networkService(conn.networkService, conn.payload);
          const all = service && views?.endpoints({ networkServiceNames: [service.name] });
          const endpoints = service && all && matchEndpoint(conn.labels, service, all, now);
          return service && endpoints?.length ? { networkService: service, endpoints } : undefined;
        };
        const found = () =>
          discoverNetworkService(ns, conn.networkService, conn.payload, ctx).pipe(
            mergeMap((service) =>
              findEndpoints(nse, { networkServiceNames: [service.name] }, ctx).pipe(
                map((all): Candidates => {
                  const endpoints = matchEndpoint(conn.labels, service, all, now);
                  if (endpoints.length === 0) {
                    const labels = Object.entries(conn.labels)
                      .map(([k, v]) => `${k}=${v}`)
                      .join(',');
                    throw notFound(
                      `no network service endpoint for network service ${JSON.stringify(service.name)}` +
                        ` matches the request (labels {${labels}}; ${all.length} registered, expired ones ignored)`,
                    );
                  }
                  return { networkService: service, endpoints };
                }),
              ),
            ),
          );
        return viewOrFind(fromView(), found).pipe(
          mergeMap((candidates) => {
            conn.payload = candidates.networkService.payload;
            return next.request(cloneRequest(request), withCandidates(ctx, candidates));
          }),
        );
      }),
    close: (conn, ctx, next) => closeWithEndpointUrl(options, conn, ctx, next, logger),
  };
}

/** The endpoint `name` from the view of `networkService`'s endpoints, else by a one-shot Find. */
function endpointNamed(options: DiscoverOptions, networkService: string, name: string, ctx: Context): Observable<NetworkServiceEndpoint> {
  const fromView = options.views?.endpoints({ networkServiceNames: [networkService] })?.find((e) => e.name === name);
  return viewOrFind(fromView, () => discoverEndpointByName(options.nse, name, ctx));
}

/** Close through the URL of the connection's NSE when it can be resolved; always calls next. */
function closeWithEndpointUrl(options: DiscoverOptions, conn: Connection, ctx: Context, next: NetworkServiceHandler, logger: Logger): Observable<void> {
  return defer(() => {
    if (clientUrlOf(ctx) !== undefined) return next.close(conn, ctx);
    const name = conn.networkServiceEndpointName;
    if (name === '') {
      logger.warn('discover: close of a connection without network_service_endpoint_name', { id: conn.id });
      return next.close(conn, ctx);
    }
    let resolved: Context = ctx;
    return endpointNamed(options, conn.networkService, name, ctx).pipe(
      map((found) => {
        resolved = ctx.with(clientUrlKey, endpointUrl(found));
      }),
      catchError((e: unknown) => {
        logger.warn('discover: close cannot resolve the endpoint URL', { id: conn.id, endpoint: name, error: messageOf(e) });
        return [undefined];
      }),
      toArray(),
      mergeMap(() => next.close(conn, resolved)),
    );
  });
}

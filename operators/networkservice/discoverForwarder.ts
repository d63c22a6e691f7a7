import { defer, Observable, throwError } from 'rxjs';
import { catchError, map, mergeMap, toArray } from 'rxjs/operators';
import { status } from '../core/status.js';
import { State, type Connection } from '../../proto/gen/connection.js';
import type { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import type { NetworkService, NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { cloneRequest } from '../core/clone.js';
import { ContextKey, type Context } from '../core/context.js';
import { DialError, invalidArgument, messageOf, notFound, NsmError, statusOf, unavailable } from '../core/errors.js';
import type { NetworkServiceElement, NetworkServiceHandler } from '../core/networkservice.js';
import type { NSEHandler, NSHandler } from '../core/registry.js';
import { isSubset, type Labels } from '../registry/matching.js';
import { silentLogger, type Logger } from '../tools/log.js';
import type { NsmUrl } from '../tools/nsmUrl.js';
import { clientUrlKey } from './clientUrl.js';
import { discoverNetworkService, endpointUrl, findEndpoints, viewOrFind } from './discover.js';
import type { RegistryViews } from '../../streams/registryViews.js';
import { metadataOf } from './metadata.js';

/** Every candidate forwarder failed; `dialFailed`: none of them could even be reached. */
class ForwardersFailed extends NsmError {
  constructor(
    code: status,
    message: string,
    readonly dialFailed: boolean,
  ) {
    super(code, message);
  }
}

/** Upstream's default name of the service forwarders register under. */
export const DEFAULT_FORWARDER_SERVICE_NAME = 'forwarder';

/** Forwarder labels a match requires when its `metadata.labels` is empty. */
export const DEFAULT_FORWARDER_LABELS: Labels = { p2p: 'true' };

export interface DiscoverForwarderOptions {
  readonly ns: NSHandler;
  readonly nse: NSEHandler;
  /** The node's live registry views, read before any Find (none: every lookup is a Find). */
  readonly views?: RegistryViews;
  /** The service forwarders register as (upstream WithForwarderServiceName; default "forwarder"). */
  readonly forwarderServiceName?: string;
  /**
   * This nsmgr's URL (upstream WithNSMgrURL). Sent as the `url` of the NSE query, which the
   * registry matches as a substring: only forwarders registered through this nsmgr. The results
   * are not compared with it again — the nsmgr's own registry chain (localBypass) hands back the
   * forwarders' real URLs. Empty: every forwarder.
   */
  readonly nsmgrUrl?: string;
  /** Where Close reports what it could not resolve (Close never fails for that). */
  readonly logger?: Logger;
  /**
   * Whether a forwarder was unreachable moments ago (the nsmgr's channel to it is backing off
   * after a failed connect). Such forwarders are tried after the others: a killed forwarder
   * stays registered until its registration expires, and trying it first costs a dial timeout.
   */
  readonly failing?: (url: NsmUrl) => boolean;
  /**
   * A stored forwarder that cannot be dialed at all: pick another (default, nsm-rx), or fail
   * until the client reselects (`false`, upstream's rule). See step 6 of {@link discoverForwarder}.
   */
  readonly reselectUnreachable?: boolean;
}

/**
 * The forwarders a network service lets a request with `requestLabels` use, in registry order.
 * No `matches` → all. Otherwise the first match whose source selector is a subset of the request
 * labels decides: forwarders whose labels for `serviceName` contain the match's
 * `metadata.labels` (values are Go templates over the request labels; none → `{p2p:"true"}`).
 * A forwarder without labels for that service never qualifies. An empty result falls through to
 * the next match only when the match says `fallthrough`.
 */
export function matchForwarders(
  requestLabels: Labels | undefined,
  ns: NetworkService,
  forwarders: readonly NetworkServiceEndpoint[],
  serviceName: string = DEFAULT_FORWARDER_SERVICE_NAME,
): NetworkServiceEndpoint[] {
  if (ns.matches.length === 0) return [...forwarders];
  for (const match of ns.matches) {
    if (!isSubset(requestLabels, match.sourceSelector, requestLabels)) continue;
    const wanted = match.metadata?.labels;
    const required = wanted !== undefined && Object.keys(wanted).length > 0 ? wanted : DEFAULT_FORWARDER_LABELS;
    const result = forwarders.filter((f) => {
      const own = Object.hasOwn(f.networkServiceLabels, serviceName) ? f.networkServiceLabels[serviceName] : undefined;
      return own !== undefined && isSubset(own.labels, required, requestLabels);
    });
    if (match.fallthrough && result.length === 0) continue;
    return result;
  }
  return [];
}

/**
 * `discoverForwarder` (nsmgr): picks the forwarder a connection goes through and keeps it.
 *
 * Request:
 * 1. Find the requested network service (NOT_FOUND naming it).
 * 2. Find the NSEs of service `forwarderServiceName` registered through this nsmgr
 *    (`url` = `nsmgrUrl`), only the stored forwarder if this connection has one — forgotten when
 *    the request comes with RESELECT_REQUESTED.
 * 3. Filter by {@link matchForwarders}. None: UNAVAILABLE "forwarder X is not available" for a
 *    stored one, NOT_FOUND otherwise.
 * 4. With nothing stored and no reselect, the forwarder named in the path's next segment is
 *    swapped to the front (an nsmgr restarted under a live connection keeps its forwarder).
 * 5. Try them in order, each with its URL in the context and a copy of the request; the first
 *    success is stored in the connection's metadata (sticky for refreshes). All failed → the last
 *    failure's code, every failure listed.
 *
 *    Forwarders the nsmgr failed to reach moments ago (`failing`) go after the others.
 * 6. A stored forwarder that cannot be dialed at all (DialError) is forgotten and the others are
 *    tried as in 2–5. (Upstream, and `reselectUnreachable: false`: the Request fails until the
 *    client reselects. A client whose datapath outlived the forwarder — the kernel datapath —
 *    probes it alive and never reselects, so it never heals: test/process/kernel.test.ts "kill -9
 *    the forwarder" heals in about a second this way and not at all with upstream's rule.)
 *
 * With `views`, 1–2 read the node's live registry views and Find only when no forwarder there
 * would qualify (or there is no view yet); Close reads them likewise.
 *
 * Close resolves the forwarder by the stored name, else by the path's next segment, and always
 * calls next (with its URL when found).
 *
 * ```
 * request ─R─▶ ns.find ─▶ nse.find{forwarder, url=nsmgr} ─▶ [f1, f2] ─▶ f1 ✗ ─▶ f2 ✓ (stored)
 * refresh ─R─▶ ns.find ─▶ nse.find{name=f2, forwarder, url=nsmgr} ─▶ f2 ✓
 * reselect ─R(RESELECT_REQUESTED)─▶ … nse.find{forwarder, url=nsmgr} (stored name ignored) …
 * ```
 */
export function discoverForwarder(options: DiscoverForwarderOptions): NetworkServiceElement {
  const { ns, nse, views } = options;
  const serviceName = options.forwarderServiceName ?? DEFAULT_FORWARDER_SERVICE_NAME;
  const nsmgrUrl = options.nsmgrUrl ?? '';
  /** This nsmgr's forwarders (a Find narrows it by name to the stored one). */
  const forwarderQuery = { networkServiceNames: [serviceName], url: nsmgrUrl };
  const logger = options.logger ?? silentLogger;
  const forwarderKey = new ContextKey<string>('discoverForwarder.name');
  /** Stable: reachable ones keep their order, then the failing ones in theirs. */
  const lastIfFailing = (forwarders: NetworkServiceEndpoint[]): NetworkServiceEndpoint[] => {
    const { failing } = options;
    if (failing === undefined) return forwarders;
    const down = (f: NetworkServiceEndpoint) => {
      try {
        return failing(endpointUrl(f, 'forwarder'));
      } catch {
        return false; // an unparsable URL fails when tried, with its own message
      }
    };
    return [...forwarders.filter((f) => !down(f)), ...forwarders.filter(down)];
  };

  const tryForwarders = (
    request: NetworkServiceRequest,
    ctx: Context,
    next: NetworkServiceHandler,
    forwarders: readonly NetworkServiceEndpoint[],
    i: number,
    failures: string[],
    lastCode: status,
    store: (name: string) => void,
    /** Every forwarder tried so far could not be dialed at all. */
    dialFailed = true,
  ): Observable<Connection> =>
    defer(() => {
      const forwarder = forwarders[i];
      if (forwarder === undefined) {
        return throwError(() => new ForwardersFailed(lastCode, `all ${forwarders.length} forwarders have failed: ${failures.join('; ')}`, dialFailed));
      }
      const retryNext = (e: unknown) =>
        tryForwarders(request, ctx, next, forwarders, i + 1, [...failures, `${i}. ${forwarder.name}: ${messageOf(e)}`], statusOf(e), store, dialFailed && e instanceof DialError);
      let url;
      try {
        url = endpointUrl(forwarder, 'forwarder');
      } catch (e) {
        return retryNext(e);
      }
      return next.request(cloneRequest(request), ctx.with(clientUrlKey, url)).pipe(
        map((conn) => {
          store(forwarder.name);
          return conn;
        }),
        catchError(retryNext),
      );
    });

  return {
    request: (request, ctx, next) =>
      defer(() => {
        const conn = request.connection;
        if (conn === undefined) return throwError(() => invalidArgument('request has no connection'));
        const meta = metadataOf(ctx);
        const reselect = conn.state === State.RESELECT_REQUESTED;
        const stored = reselect ? '' : (meta.get(forwarderKey) ?? '');

        /** The service and its forwarders (only the stored one, if any) from the views; undefined when none would qualify. */
        const fromView = (stored: string, dead?: string): { service: NetworkService; found: NetworkServiceEndpoint[] } | undefined => {
          const service = views?.networkService(conn.networkService, conn.payload);
          const all = service && views?.endpoints(forwarderQuery);
          const found = all?.filter((f) => stored === '' || f.name === stored);
          const usable = service && found && matchForwarders(conn.labels, service, found, serviceName).some((f) => f.name !== dead);
          return usable ? { service, found } : undefined;
        };
        const select = (stored: string, dead?: string): Observable<Connection> =>
          viewOrFind(fromView(stored, dead), () =>
            discoverNetworkService(ns, conn.networkService, conn.payload, ctx).pipe(
              mergeMap((service) => findEndpoints(nse, { ...forwarderQuery, name: stored }, ctx).pipe(map((found) => ({ service, found })))),
            ),
          ).pipe(
            mergeMap(({ service, found }) => {
              const forwarders = lastIfFailing(matchForwarders(conn.labels, service, found, serviceName).filter((f) => f.name !== dead));
              if (forwarders.length === 0) {
                if (stored !== '') throw unavailable(`forwarder ${JSON.stringify(stored)} is not available`);
                throw notFound(
                  `no forwarder for network service ${JSON.stringify(service.name)}` +
                    `${nsmgrUrl !== '' ? ` registered through ${nsmgrUrl}` : ''} (${found.length} found, none matches)`,
                );
              }
              if (stored === '' && !reselect) {
                const path = conn.path;
                const wanted = path?.pathSegments[path.index + 1]?.name;
                const at = wanted === undefined ? -1 : forwarders.findIndex((f) => f.name === wanted);
                if (at > 0) [forwarders[0], forwarders[at]] = [forwarders[at] as NetworkServiceEndpoint, forwarders[0] as NetworkServiceEndpoint];
              }
              const store = (name: string): void => {
                if (stored === '') meta.set(forwarderKey, name);
              };
              return tryForwarders(request, ctx, next, forwarders, 0, [], status.UNAVAILABLE, store);
            }),
          );

        if (stored === '' || options.reselectUnreachable === false) return select(stored);
        // A stored forwarder that cannot even be dialed is gone (killed; its registration not
        // yet expired): stickiness has nothing left to keep, so pick among the others. (Upstream
        // keeps failing until the client reselects — which a client whose datapath survived the
        // forwarder, as with the kernel datapath, never does.)
        return select(stored).pipe(
          catchError((e: unknown) => {
            if (!(e instanceof ForwardersFailed && e.dialFailed)) throw e;
            logger.warn('discoverForwarder: the stored forwarder is unreachable, selecting another', { id: conn.id, forwarder: stored });
            meta.delete(forwarderKey);
            return select('', stored);
          }),
        );
      }),

    close: (conn, ctx, next) =>
      defer(() => {
        let name = metadataOf(ctx).get(forwarderKey) ?? '';
        if (name === '') name = conn.path?.pathSegments[conn.path.index + 1]?.name ?? '';
        if (name === '') {
          logger.warn('discoverForwarder: close of a connection without a forwarder', { id: conn.id });
          return next.close(conn, ctx);
        }
        let resolved: Context = ctx;
        const fromView = views?.endpoints(forwarderQuery)?.find((f) => f.name === name);
        return viewOrFind(fromView, () =>
          findEndpoints(nse, { name, url: nsmgrUrl }, ctx).pipe(
            map((found) => {
              const forwarder = found[0];
              if (forwarder === undefined) throw notFound(`forwarder ${JSON.stringify(name)} is not found`);
              return forwarder;
            }),
          ),
        ).pipe(
          map((forwarder) => {
            resolved = ctx.with(clientUrlKey, endpointUrl(forwarder, 'forwarder'));
          }),
          catchError((e: unknown) => {
            logger.warn('discoverForwarder: close cannot resolve the forwarder URL', { id: conn.id, forwarder: name, error: messageOf(e) });
            return [undefined];
          }),
          toArray(),
          mergeMap(() => next.close(conn, resolved)),
        );
      }),
  };
}

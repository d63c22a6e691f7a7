import { status } from '../core/status.js';
import { concat, defer, EMPTY, Observable, of, throwError } from 'rxjs';
import { catchError, concatMap, filter, ignoreElements, map, take } from 'rxjs/operators';
import type { Connection } from '../../proto/gen/connection.js';
import type { IPContext } from '../../proto/gen/connectioncontext.js';
import type { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { messageOf, NsmError } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { DualStackPool, hostCidr, isHostCidr, tryParseCidr } from '../tools/cidr.js';
import { onSettle } from '../tools/onSettle.js';
import { latestOf } from '../../streams/latest.js';
import { ipContextOf } from './point2pointIpam.js';

const dedupe = (xs: readonly string[]): string[] => [...new Set(xs)];

/**
 * The prefixes as upstream's prefix pool returns them: each parsed to its network, merged
 * (overlapping and adjacent ones join) and re-cut into the fewest CIDRs, IPv4 first.
 * Undefined if any entry is not a CIDR (upstream then keeps the previous list).
 */
export function aggregatePrefixes(prefixes: readonly string[]): string[] | undefined {
  const { pool, invalid } = DualStackPool.fromCidrs(prefixes);
  return invalid.length > 0 ? undefined : pool.prefixes();
}

// ---------------------------------------------------------------------------------------------
// Server (nsmgr)

export interface ExcludedPrefixesServerElement extends NetworkServiceElement {
  /** Stops following `prefixes$`. */
  dispose(): void;
}

/**
 * `excludedPrefixesServer(prefixes$)` (nsmgr, upstream excludedprefixes server): appends the
 * latest excluded prefixes (typically `streams/excludedPrefixesFile`) to the request's
 * `ip_context.excluded_prefixes`, then removes duplicate strings from the whole list.
 *
 * Each emitted list is aggregated as upstream does (networks, merged, fewest CIDRs, v4 first);
 * a list with an entry that is not a CIDR is ignored and the previous one stays. `prefixes$` is
 * subscribed on the first Request (upstream reads the file on first use), which waits for its
 * first list; if it ends or fails before one (or the element is disposed), the list is empty.
 * Close passes through.
 */
export function excludedPrefixesServer(prefixes$: Observable<readonly string[]>): ExcludedPrefixesServerElement {
  const aggregated$ = prefixes$.pipe(
    map(aggregatePrefixes),
    filter((list): list is string[] => list !== undefined),
  );
  const { latest$, dispose } = latestOf<readonly string[]>(aggregated$, []);
  return {
    dispose,
    request: (request, ctx, next) =>
      defer(() =>
        latest$.pipe(
          take(1),
          concatMap((prefixes) => {
            const ip = ipContextOf(request);
            ip.excludedPrefixes = dedupe([...ip.excludedPrefixes, ...prefixes]);
            return next.request(request, ctx);
          }),
        ),
      ),
  };
}

// ---------------------------------------------------------------------------------------------
// Client (NSC)

/**
 * The awareness-group key of a request, upstream's `getNSURL`: `<mechanism type, lower case>://
 * <network service>[/<interface name>]?<labels>` where the mechanism is the connection's, else
 * the first preference, the interface name is the mechanism's `name` parameter, and labels are
 * query-encoded with sorted keys.
 */
export function nsUrlOf(request: NetworkServiceRequest): string {
  const conn = request.connection;
  const mechanism = conn?.mechanism ?? request.mechanismPreferences[0];
  const scheme = (mechanism?.type ?? '').toLowerCase();
  const iface = mechanism?.parameters['name'] ?? '';
  const query = new URLSearchParams(Object.entries(conn?.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return `${scheme}://${conn?.networkService ?? ''}${iface === '' ? '' : `/${iface}`}${query.size > 0 ? `?${query}` : ''}`;
}

/**
 * An awareness-group member (`kernel://ns1?color=red`, `kernel://ns/nsm-1?a=1&b=2`) in the form
 * `nsUrlOf` gives, so the two compare as strings. Upstream compares Go url.URL structs, so there
 * the query must be written with keys sorted; here any order matches.
 *
 * @throws Error when it is not `scheme://service[/ifname][?labels]`.
 */
export function canonicalNsUrl(url: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/.exec(url.trim());
  if (!m) throw new Error(`${JSON.stringify(url)} is not a network service URL (expected mechanism://service[/ifname][?label=value&…])`);
  const query = new URLSearchParams(m[4] ?? '');
  query.sort();
  return `${(m[1] as string).toLowerCase()}://${m[2]}${m[3] ?? ''}${query.size > 0 ? `?${query}` : ''}`;
}

export interface ExcludedPrefixesClientOptions {
  /**
   * NSM_AWARENESS_GROUPS: groups of network service URLs (`kernel://ns1?color=red`).
   * Connections in one group may share addresses; everything else is excluded from them.
   */
  awarenessGroups?: readonly (readonly string[])[];
}

/** What one connection contributes to the others' exclusions. */
export interface ExcludedPrefixesEntry {
  /** Awareness group index, -1 for none. */
  readonly group: number;
  /**
   * Its src and dst addresses and host routes, as the response gave them; outside any awareness
   * group also the response's excluded prefixes (upstream), less those it was sent for the
   * client's other connections.
   */
  readonly prefixes: readonly string[];
}

export interface ExcludedPrefixesClientElement extends NetworkServiceElement {
  /** Per connection id: what it contributes (for tests). */
  readonly connections: ReadonlyMap<string, ExcludedPrefixesEntry>;
}

/**
 * src/dst addresses and host-length routes of a response (upstream also skips wider routes) and,
 * with `excluded`, its excluded prefixes that are not in `fromOthers`.
 */
function contributionOf(ip: IPContext | undefined, excluded: boolean, fromOthers: ReadonlySet<string>): string[] {
  if (ip === undefined) return [];
  const hostRoutes = [...ip.srcRoutes, ...ip.dstRoutes].map((r) => r.prefix).filter((p) => {
    const c = tryParseCidr(p);
    return c !== undefined && isHostCidr(c);
  });
  const carried = excluded ? ip.excludedPrefixes.filter((p) => !fromOthers.has(p)) : [];
  return dedupe([...ip.srcIpAddrs, ...ip.dstIpAddrs, ...hostRoutes, ...carried]);
}

/**
 * `excludedPrefixesClient({ awarenessGroups })` (NSC, upstream excludedprefixes client): keeps
 * the NSE from handing this client an address one of its other connections already uses.
 *
 * - Each Request carries, in `ip_context.excluded_prefixes`, the addresses and host routes of the
 *   client's other connections, except those in the same awareness group (they may share), and
 *   minus the addresses the request itself carries (its refresh keeps them). A connection in no
 *   awareness group also passes on the excluded prefixes its response returned (those the nsmgr
 *   and the NSE added; upstream carries them into later requests too). The additions are taken
 *   out of the request again when the call returns.
 * - If the response's src or dst address is one of the addresses it was told to avoid (another
 *   connection's, or a /32 or /128 the request excluded; like upstream, wider excluded prefixes
 *   are not checked), that connection is Closed downstream and the Request fails with
 *   FAILED_PRECONDITION naming the address.
 * - Close (and only a successful Request records anything) drops the connection's addresses.
 *
 * Unlike upstream, which accumulates strings in one list (so a refresh that moved addresses
 * leaves the old ones excluded, and a Close can remove another connection's), each
 * connection's contribution is kept by its id and replaced on refresh.
 */
export function excludedPrefixesClient(options: ExcludedPrefixesClientOptions = {}): ExcludedPrefixesClientElement {
  const groups = (options.awarenessGroups ?? []).map((g) => new Set(g.map(canonicalNsUrl)));
  const groupOf = (request: NetworkServiceRequest): number => {
    const key = nsUrlOf(request);
    return groups.findIndex((g) => g.has(key));
  };
  const connections = new Map<string, ExcludedPrefixesEntry>();

  return {
    connections,
    request: (request, ctx, next) =>
      defer(() => {
        const ip = ipContextOf(request);
        const id = request.connection?.id ?? '';
        const group = groupOf(request);

        const others: string[] = [];
        for (const [cid, entry] of connections) {
          if (cid !== id && (entry.group === -1 || entry.group !== group)) others.push(...entry.prefixes);
        }
        const original = ip.excludedPrefixes;
        let sent: string[] = [];
        if (others.length > 0) {
          const own = new Set([...ip.srcIpAddrs, ...ip.dstIpAddrs]);
          sent = dedupe([...original, ...others]).filter((p) => !own.has(p));
          ip.excludedPrefixes = sent;
        }
        // Take our additions out of the caller's request again (unless the response is that very
        // object, as in-process: then it shows what was sent, as a remote echo would).
        const restore = (resp?: Connection) => {
          if (resp?.context?.ipContext !== ip) ip.excludedPrefixes = original;
        };

        // The addresses the response must not have.
        const fromOthers = new Set(others);
        const avoid = new DualStackPool();
        for (const p of sent) {
          const c = tryParseCidr(p);
          if (c !== undefined && (isHostCidr(c) || fromOthers.has(p))) avoid.add(hostCidr({ family: c.family, value: c.address }));
        }

        let settledWith: Connection | undefined;
        return next.request(request, ctx).pipe(
          concatMap((resp) => {
            const got = resp.context?.ipContext;
            const clash = [...(got?.srcIpAddrs ?? []).map((a) => ['src', a] as const), ...(got?.dstIpAddrs ?? []).map((a) => ['dst', a] as const)].find(([, a]) => {
              const c = tryParseCidr(a);
              return c !== undefined && avoid.has({ family: c.family, value: c.address });
            });
            if (clash === undefined) {
              connections.set(id, { group, prefixes: contributionOf(got, group === -1, fromOthers) });
              settledWith = resp;
              return of(resp);
            }
            const [side, addr] = clash;
            const why = `excludedPrefixesClient: the response's ${side} address ${addr} is excluded (${
              fromOthers.has(addr) ? 'another connection of this client uses it' : 'the request excluded it'
            }); the connection was closed`;
            let closeError = '';
            return concat(
              next.close(resp, ctx.withoutDeadline()).pipe(
                ignoreElements(),
                catchError((e: unknown) => {
                  closeError = `; closing it failed: ${messageOf(e)}`;
                  return EMPTY;
                }),
              ),
              defer(() => throwError(() => new NsmError(status.FAILED_PRECONDITION, why + closeError))),
            );
          }),
          onSettle(() => restore(settledWith)),
        );
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        connections.delete(conn.id);
        return next.close(conn, ctx);
      }),
  };
}

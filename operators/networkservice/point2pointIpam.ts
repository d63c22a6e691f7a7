import { status } from '../core/status.js';
import { defer } from 'rxjs';
import { tap } from 'rxjs/operators';
import { ConnectionContext, IPContext, type Route } from '../../proto/gen/connectioncontext.js';
import type { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { ContextKey } from '../core/context.js';
import { invalidArgument, NsmError } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import {
  cidrNetwork,
  DualStackPool,
  formatCidr,
  hostCidr,
  IpPool,
  parseCidr,
  tryParseCidr,
  type Cidr,
  type IpAddress,
} from '../tools/cidr.js';
import { onSettle } from '../tools/onSettle.js';
import { metadataOf } from './metadata.js';

// ---------------------------------------------------------------------------------------------
// IPContext edits shared by the IPAM elements (upstream's addAddr/addRoute/deleteAddr/deleteRoute)

/** The request's IPContext, created (with its ConnectionContext) when missing. */
export function ipContextOf(request: NetworkServiceRequest): IPContext {
  const conn = request.connection;
  if (conn === undefined) throw invalidArgument('request has no connection');
  conn.context ??= ConnectionContext.fromPartial({});
  conn.context.ipContext ??= IPContext.fromPartial({});
  return conn.context.ipContext;
}

export const addAddr = (addrs: string[], addr: string) => {
  if (!addrs.includes(addr)) addrs.push(addr);
};
export const deleteAddr = (addrs: string[], addr: string) => {
  const i = addrs.indexOf(addr);
  if (i >= 0) addrs.splice(i, 1);
};
export const addRoute = (routes: Route[], prefix: string, nextHop = '') => {
  if (!routes.some((r) => r.prefix === prefix)) routes.push({ prefix, nextHop });
};
export const deleteRoute = (routes: Route[], prefix: string) => {
  const i = routes.findIndex((r) => r.prefix === prefix);
  if (i >= 0) routes.splice(i, 1);
};

/** The request's excluded prefixes as pools (networks of the CIDRs; unparsable ones are ignored, as upstream does). */
function exclusionsOf(ip: IPContext): DualStackPool {
  return DualStackPool.fromCidrs(ip.excludedPrefixes).pool;
}

const resourceExhausted = (msg: string) => new NsmError(status.RESOURCE_EXHAUSTED, msg);

// ---------------------------------------------------------------------------------------------
// point2pointIpam

/** One connection's pair, held in its metadata; `release` gives both back once. */
interface Allocation {
  readonly pool: IpPool;
  readonly src: string;
  readonly dst: string;
  readonly srcIp: IpAddress;
  readonly dstIp: IpAddress;
  release(): void;
}

function allocation(pool: IpPool, dstIp: IpAddress, srcIp: IpAddress): Allocation {
  let released = false;
  return {
    pool,
    dst: formatCidr(hostCidr(dstIp)),
    src: formatCidr(hostCidr(srcIp)),
    dstIp,
    srcIp,
    release: () => {
      if (released) return;
      released = true;
      pool.release(dstIp).release(srcIp);
    },
  };
}

export interface Point2PointIpamElement extends NetworkServiceElement {
  /** The configured prefixes (networks, canonical). */
  readonly prefixes: readonly string[];
  /** The free addresses of each prefix, in order (for tests and metrics; do not modify). */
  readonly pools: readonly IpPool[];
}

/**
 * `point2pointIpam(prefixes)` (NSE side, upstream point2pointipam): gives each connection a pair
 * of host addresses from the first prefix that has two free addresses the request does not
 * exclude. The lower one goes to the endpoint (`dst_ip_addrs`), the next to the client
 * (`src_ip_addrs`), both as /32 (/128); `src_routes` gets the endpoint's address and
 * `dst_routes` the client's, so each side has a host route to the other. Additions never
 * duplicate what is already there.
 *
 * Pairs are handed out next fit: past the last pair given, wrapping to the lowest free at the
 * end of the prefix (upstream: always the lowest free). A pair just freed — by a client whose heal
 * Closes before it Requests again — is not the next one given, so that client recovers it.
 *
 * - `ip_context.excluded_prefixes` are honoured (whole networks: `10.0.0.5/24` excludes the /24).
 * - A refresh keeps the connection's pair, unless one of its addresses is now excluded: then the
 *   old pair is removed from the context, given back, and a new one allocated.
 * - A connection this element does not know (e.g. after an NSE restart) first tries to *recover*
 *   the addresses its request carries: the first src and the first dst address that are free,
 *   not excluded and in the same prefix. Otherwise a new pair is added, and — unlike upstream,
 *   which keeps them — the other addresses of our prefixes leave the context with their routes:
 *   a client reselected to this NSE whose old pair another connection took meanwhile would
 *   otherwise carry that connection's addresses too (found by the soak under churn).
 * - Close gives the pair back; so does a first Request (or a reallocating refresh) that fails
 *   or is cancelled downstream.
 * - No pair free → RESOURCE_EXHAUSTED naming the prefixes.
 *
 * Several prefixes are tried in order (overflow, one pair per connection); dual stack (one pair
 * per family) is `groupIpam` with one group per family, as NSM_CIDR_PREFIX=`v4cidr,v6cidr` gives.
 * Needs `metadata` earlier in the chain (the pair lives in the connection's metadata).
 *
 * @throws Error at construction when `prefixes` is empty or one is not a CIDR.
 */
export function point2pointIpam(prefixes: readonly string[]): Point2PointIpamElement {
  if (prefixes.length === 0) throw new Error('point2pointIpam: one or more prefixes are required');
  const networks: Cidr[] = prefixes.map((p) => cidrNetwork(parseCidr(p)));
  const names = networks.map(formatCidr);
  const pools = networks.map((n) => IpPool.of(n.family, [n]));
  const key = new ContextKey<Allocation>('point2pointIpam');
  const ours = DualStackPool.fromCidrs(names).pool;

  /**
   * Takes out of the context every address of our prefixes but `alloc`'s pair, with the routes
   * to it: a pair an earlier allocation gave that could not be recovered now belongs to another
   * connection, and would be a duplicate address on this one's interfaces.
   */
  const dropStale = (ip: IPContext, alloc: Allocation) => {
    const stale = (keep: string) => (a: string) => {
      const c = tryParseCidr(a);
      return a !== keep && c !== undefined && ours.has({ family: c.family, value: c.address });
    };
    for (const a of ip.srcIpAddrs.filter(stale(alloc.src))) {
      deleteAddr(ip.srcIpAddrs, a);
      deleteRoute(ip.dstRoutes, a);
    }
    for (const a of ip.dstIpAddrs.filter(stale(alloc.dst))) {
      deleteAddr(ip.dstIpAddrs, a);
      deleteRoute(ip.srcRoutes, a);
    }
  };

  /** Upstream recoverAddrs: both sides must be given; per prefix, the first free src and dst. */
  const recover = (ip: IPContext, excluded: DualStackPool): Allocation | undefined => {
    if (ip.srcIpAddrs.length === 0 || ip.dstIpAddrs.length === 0) return undefined;
    const parsed = (addrs: string[]) => addrs.map((a) => tryParseCidr(a)).filter((c): c is Cidr => c !== undefined);
    const srcs = parsed(ip.srcIpAddrs);
    const dsts = parsed(ip.dstIpAddrs);
    for (const pool of pools) {
      const take = (cands: Cidr[]): IpAddress | undefined => {
        for (const c of cands) {
          const addr: IpAddress = { family: c.family, value: c.address };
          if (!excluded.has(addr) && pool.pullAddress(addr)) return addr;
        }
        return undefined;
      };
      const src = take(srcs);
      const dst = take(dsts);
      if (src !== undefined && dst !== undefined) return allocation(pool, dst, src);
      // Unlike upstream, a half that was found goes back.
      if (src !== undefined) pool.release(src);
      if (dst !== undefined) pool.release(dst);
    }
    return undefined;
  };

  // Next fit: where each pool's next allocation starts looking (past the last pair it gave).
  const cursors = new Map<IpPool, bigint>();
  const allocate = (excluded: DualStackPool): Allocation => {
    for (const pool of pools) {
      const [dst, src] = pool.lowestFree(2, excluded.of(pool.family), cursors.get(pool));
      if (dst === undefined || src === undefined) continue;
      pool.pullAddress(dst);
      pool.pullAddress(src);
      cursors.set(pool, src.value + 1n);
      return allocation(pool, dst, src);
    }
    const excludedCount = excluded.prefixes().length;
    throw resourceExhausted(
      `point2pointIpam: no free pair of addresses left in ${names.join(', ')}` +
        (excludedCount > 0 ? ` (the request excludes ${excludedCount} prefix${excludedCount === 1 ? '' : 'es'})` : ''),
    );
  };

  return {
    prefixes: names,
    pools,
    request: (request, ctx, next) =>
      defer(() => {
        const meta = metadataOf(ctx);
        const ip = ipContextOf(request);
        const excluded = exclusionsOf(ip);

        let alloc = meta.get(key);
        if (alloc !== undefined && (excluded.has(alloc.srcIp) || excluded.has(alloc.dstIp))) {
          // Some of its addresses are excluded now: take the old pair out and start again.
          deleteAddr(ip.srcIpAddrs, alloc.src);
          deleteAddr(ip.dstIpAddrs, alloc.dst);
          deleteRoute(ip.srcRoutes, alloc.dst);
          deleteRoute(ip.dstRoutes, alloc.src);
          alloc.release();
          meta.delete(key);
          alloc = undefined;
        }
        let fresh: Allocation | undefined;
        if (alloc === undefined) {
          alloc = fresh = recover(ip, excluded) ?? allocate(excluded);
          meta.set(key, fresh);
          dropStale(ip, fresh);
        }

        addAddr(ip.srcIpAddrs, alloc.src);
        addRoute(ip.srcRoutes, alloc.dst);
        addAddr(ip.dstIpAddrs, alloc.dst);
        addRoute(ip.dstRoutes, alloc.src);

        if (fresh === undefined) return next.request(request, ctx);
        let ok = false;
        return next.request(request, ctx).pipe(
          tap(() => (ok = true)),
          onSettle(() => {
            if (ok || meta.get(key) !== fresh) return;
            meta.delete(key);
            fresh.release();
          }),
        );
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        metadataOf(ctx).delete(key)?.release();
        return next.close(conn, ctx);
      }),
  };
}

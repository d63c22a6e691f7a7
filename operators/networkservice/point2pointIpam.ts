import { status } from '@grpc/grpc-js';
import { defer, type Observable } from 'rxjs';
import { map, tap } from 'rxjs/operators';
import type { Connection } from '../../proto/gen/connection.js';
import { ConnectionContext, IPContext, type Route } from '../../proto/gen/connectioncontext.js';
import type { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { ContextKey, type Context } from '../core/context.js';
import { invalidArgument, NsmError } from '../core/errors.js';
import { chain, type NetworkServiceElement, type NetworkServiceHandler } from '../core/networkservice.js';
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

const addAddr = (addrs: string[], addr: string) => {
  if (!addrs.includes(addr)) addrs.push(addr);
};
const deleteAddr = (addrs: string[], addr: string) => {
  const i = addrs.indexOf(addr);
  if (i >= 0) addrs.splice(i, 1);
};
const addRoute = (routes: Route[], prefix: string) => {
  if (!routes.some((r) => r.prefix === prefix)) routes.push({ prefix, nextHop: '' });
};
const deleteRoute = (routes: Route[], prefix: string) => {
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
 * - `ip_context.excluded_prefixes` are honoured (whole networks: `10.0.0.5/24` excludes the /24).
 * - A refresh keeps the connection's pair, unless one of its addresses is now excluded: then the
 *   old pair is removed from the context, given back, and a new one allocated.
 * - A connection this element does not know (e.g. after an NSE restart) first tries to *recover*
 *   the addresses its request carries: the first src and the first dst address that are free,
 *   not excluded and in the same prefix. Otherwise a new pair is appended.
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

  const allocate = (excluded: DualStackPool): Allocation => {
    for (const pool of pools) {
      const [dst, src] = pool.lowestFree(2, excluded.of(pool.family));
      if (dst === undefined || src === undefined) continue;
      pool.pullAddress(dst);
      pool.pullAddress(src);
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

// ---------------------------------------------------------------------------------------------
// NSM_CIDR_PREFIX groups

/**
 * Splits `[a,b],c,[d]` into groups: items in brackets form one group, every other item is a
 * group of its own. Whitespace is ignored. `parseItem` turns one item into a value (and throws
 * with a message about that item). '' → [] (upstream accepts an empty value).
 *
 * @throws Error naming the bad part and its position.
 */
export function parseBracketGroups<T>(input: string, parseItem: (item: string) => T): T[][] {
  const s = input.replace(/\s+/g, '');
  if (s === '') return [];
  const groups: T[][] = [];
  let current: T[] | undefined; // the open bracket group
  let i = 0;
  const where = (at: number) => `at position ${at + 1} of ${JSON.stringify(s)}`;
  while (i < s.length) {
    let ch = s[i];
    if (ch === '[') {
      if (current !== undefined) throw new Error(`unexpected "[" ${where(i)}: groups cannot be nested`);
      current = [];
      i++;
      ch = s[i];
    }
    if (ch === '[') throw new Error(`unexpected "[" ${where(i)}: groups cannot be nested`);
    if (ch === ']') throw new Error(`unexpected "]" ${where(i)}: ${current === undefined ? 'no group is open' : 'empty group'}`);
    // An item runs to the next separator.
    let j = i;
    while (j < s.length && s[j] !== ',' && s[j] !== '[' && s[j] !== ']') j++;
    const item = s.slice(i, j);
    if (item === '') throw new Error(`empty item ${where(i)}`);
    if (s[j] === '[') throw new Error(`unexpected "[" ${where(j)}: expected "," between items`);
    const value = parseItem(item);
    if (current !== undefined) current.push(value);
    else groups.push([value]);
    i = j;
    if (s[i] === ']') {
      if (current === undefined) throw new Error(`unexpected "]" ${where(i)}: no group is open`);
      groups.push(current);
      current = undefined;
      i++;
      if (i < s.length && s[i] !== ',') throw new Error(`unexpected ${JSON.stringify(s[i])} ${where(i)}: expected "," after "]"`);
    }
    if (s[i] === ',') {
      i++;
      if (i === s.length) throw new Error(`empty item after the last "," ${where(i - 1)}`);
    }
  }
  if (current !== undefined) throw new Error(`group opened with "[" is not closed in ${JSON.stringify(s)}`);
  return groups;
}

/**
 * Parses NSM_CIDR_PREFIX: `[a,b],c` → [[a, b], [c]], each CIDR masked to its network in
 * canonical form (upstream cidr.Groups). `172.16.1.100/31,2001:db8::/116` is two groups: dual stack.
 *
 * @throws Error naming the bad part, e.g. `"172.168.1./24" is not a CIDR …`.
 */
export function parseCidrGroups(input: string): string[][] {
  return parseBracketGroups(input, (item) => formatCidr(cidrNetwork(parseCidr(item))));
}

/**
 * `groupIpam(groups)` (upstream groupipam): one IPAM per group, chained, so a connection gets one
 * pair from each group. `newIpam` defaults to `point2pointIpam`. No groups → passes through.
 */
export function groupIpam(
  groups: readonly (readonly string[])[],
  newIpam: (prefixes: readonly string[]) => NetworkServiceElement = point2pointIpam,
): NetworkServiceElement {
  const elements = groups.map((g) => newIpam(g));
  return {
    request: (request, ctx, next) => chain(elements, next).request(request, ctx),
    close: (conn, ctx, next) => chain(elements, next).close(conn, ctx),
  };
}

// ---------------------------------------------------------------------------------------------
// strictIpam and NSM_IPAM_POLICY

/** The addresses one connection holds in strict's pool. */
interface Held {
  readonly addrs: readonly IpAddress[];
  release(): void;
}

/**
 * `strictIpam(inner, prefixes)` (NSM_IPAM_POLICY=strict, upstream strictipam): before `inner`
 * (the IPAM) runs, every client-sent src/dst address that is not inside `prefixes`, is not a
 * CIDR, or is held by another connection is removed from the request with its route (a dst
 * address's route in `src_routes`, a src address's in `dst_routes`), so `inner` allocates
 * instead of keeping it. After a successful Request the connection's addresses inside
 * `prefixes` are marked held; Close (or the connection's next Request) releases them.
 *
 * Upstream removes the bad addresses one by one (it does not clear the whole IPContext).
 * Unlike upstream, which trusts the addresses a Close carries, the held set is per connection
 * (in its metadata), and a connection's own addresses stay valid on its refresh.
 */
export function strictIpam(inner: NetworkServiceElement, prefixes: readonly string[]): NetworkServiceElement {
  const allowed = new DualStackPool();
  for (const p of prefixes) allowed.add(parseCidr(p));
  const free = new DualStackPool();
  for (const p of allowed.prefixes()) free.add(parseCidr(p));
  const key = new ContextKey<Held>('strictIpam');

  const hold = (addrs: IpAddress[]): Held => {
    let released = false;
    const taken = addrs.filter((a) => free.of(a.family).pullAddress(a));
    return {
      addrs: taken,
      release: () => {
        if (released) return;
        released = true;
        for (const a of taken) free.of(a.family).release(a);
      },
    };
  };
  const addressOf = (s: string): IpAddress | undefined => {
    const c = tryParseCidr(s);
    return c === undefined ? undefined : { family: c.family, value: c.address };
  };

  const innerRequest = (request: NetworkServiceRequest, ctx: Context, next: NetworkServiceHandler): Observable<Connection> =>
    inner.request ? inner.request(request, ctx, next) : next.request(request, ctx);

  return {
    request: (request, ctx, next) =>
      defer(() => {
        const meta = metadataOf(ctx);
        const ip = ipContextOf(request);
        const mine = meta.get(key)?.addrs ?? [];
        const valid = (s: string): boolean => {
          const a = addressOf(s);
          if (a === undefined || !allowed.has(a)) return false;
          return free.has(a) || mine.some((m) => m.family === a.family && m.value === a.value);
        };
        for (const addr of ip.srcIpAddrs.filter((a) => !valid(a))) {
          deleteAddr(ip.srcIpAddrs, addr);
          deleteRoute(ip.dstRoutes, addr);
        }
        for (const addr of ip.dstIpAddrs.filter((a) => !valid(a))) {
          deleteAddr(ip.dstIpAddrs, addr);
          deleteRoute(ip.srcRoutes, addr);
        }
        return innerRequest(request, ctx, next).pipe(
          map((conn) => {
            const got = conn.context?.ipContext;
            const addrs = [...(got?.srcIpAddrs ?? []), ...(got?.dstIpAddrs ?? [])]
              .map(addressOf)
              .filter((a): a is IpAddress => a !== undefined && allowed.has(a));
            meta.delete(key)?.release();
            meta.set(key, hold(addrs));
            return conn;
          }),
        );
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        metadataOf(ctx).delete(key)?.release();
        return inner.close ? inner.close(conn, ctx, next) : next.close(conn, ctx);
      }),
  };
}

export type IpamPolicy = 'polite' | 'strict';

/** NSM_IPAM_POLICY: `polite` or `strict`, any case (upstream lower-cases it). */
export function parseIpamPolicy(s: string): IpamPolicy {
  const p = s.toLowerCase();
  if (p === 'polite' || p === 'strict') return p;
  throw new Error(`${JSON.stringify(s)} is not an IPAM policy (expected polite or strict)`);
}

/**
 * The NSE's IPAM for a policy, as cmd-nse-icmp-responder builds it: `groupIpam(groups)`, wrapped
 * by `strictIpam` over all the groups' prefixes when strict.
 */
export function ipamForPolicy(policy: IpamPolicy, groups: readonly (readonly string[])[]): NetworkServiceElement {
  const ipam = groupIpam(groups);
  return policy === 'strict' ? strictIpam(ipam, groups.flat()) : ipam;
}

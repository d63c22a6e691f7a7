import { status } from '../core/status.js';
import { defer } from 'rxjs';
import { map, tap } from 'rxjs/operators';
import type { IPContext, Route } from '../../proto/gen/connectioncontext.js';
import { invalidArgument, NsmError, unavailable } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { cidrContainsCidr, cidrsOverlap, tryParseCidr } from '../tools/cidr.js';
import { silentLogger, type Logger } from '../tools/log.js';
import type { Vl3Ipam } from '../tools/vl3Ipam.js';
import { addAddr, addRoute, ipContextOf } from './point2pointIpam.js';
import { isVl3Peer } from './strictVl3Ipam.js';

/** `vl3Server` with the connections it addressed (leak checks). */
export interface Vl3ServerElement extends NetworkServiceElement {
  readonly connections: ReadonlyMap<string, string>;
}

/** Drops what belongs to `previous` (an NSE's earlier prefix): addresses and routes in it, and routes via it. */
export function forgetPrevious(ip: IPContext, previous: string): void {
  const old = tryParseCidr(previous);
  const inside = (s: string) => {
    const c = tryParseCidr(s.includes('/') ? s : `${s}/${s.includes(':') ? 128 : 32}`);
    return old !== undefined && c !== undefined && c.family === old.family && cidrContainsCidr(old, c);
  };
  const stale = (r: Route) => inside(r.prefix) || (r.nextHop !== '' && inside(r.nextHop));
  ip.srcIpAddrs = ip.srcIpAddrs.filter((a) => !inside(a));
  ip.dstIpAddrs = ip.dstIpAddrs.filter((a) => !inside(a));
  ip.srcRoutes = ip.srcRoutes.filter((r) => !stale(r));
  ip.dstRoutes = ip.dstRoutes.filter((r) => !stale(r));
}

/** A peer whose own prefix (a route it asks for) overlaps this NSE's: both would claim the same addresses. */
function refuseOverlap(ip: IPContext, own: string, peer: string, logger: Logger): void {
  const ours = tryParseCidr(own);
  const clash = ip.dstRoutes.find((r) => {
    const theirs = tryParseCidr(r.prefix);
    return ours !== undefined && theirs !== undefined && theirs.family === ours.family && cidrsOverlap(ours, theirs);
  });
  if (clash === undefined) return;
  const message = `the vl3 peer's prefix ${clash.prefix} overlaps this NSE's ${own}`;
  logger.warn('vl3 peer refused', { peer, prefix: clash.prefix, own });
  throw invalidArgument(message);
}

/**
 * `vl3Server(ipam)` (vl3 NSE, upstream ipcontext/vl3 server): a client gets a host address from
 * the NSE's vl3 prefix as its source address, routes to the NSE's own address and prefix via the
 * NSE, and, in the answer, a route to the whole vl3 network (the global prefix); the NSE's address
 * is the destination (another vl3 NSE gets no route to the whole network: it has one per peer). A refresh keeps the address while the prefix stays; after a reset (a new
 * prefix from ipam-vl3) it gets a new one and what lay in the old prefix is dropped. Another vl3
 * NSE keeps its own address. Close gives the address back; so does a first Request that failed.
 * Before the NSE has a prefix: UNAVAILABLE; a used-up prefix: RESOURCE_EXHAUSTED; a peer whose
 * prefix overlaps this NSE's: INVALID_ARGUMENT, logged.
 *
 * ```
 * request(c1)  → src 10.0.0.1/32, routes 10.0.0.0/32 and 10.0.0.0/24 via 10.0.0.0; answer + 10.0.0.0/16 via 10.0.0.0
 * reset(10.0.1.0/24), refresh(c1) → src 10.0.1.1/32
 * ```
 */
export function vl3Server(ipam: Vl3Ipam, options: { logger?: Logger } = {}): Vl3ServerElement {
  /** Connection id → the NSE prefix its address was taken from. */
  const connections = new Map<string, string>();
  const allocate = (ip: IPContext, id: string): string => {
    const address = ipam.allocate();
    if (address === undefined) throw new NsmError(status.RESOURCE_EXHAUSTED, `the vl3 prefix ${ipam.selfPrefix()} has no free address left`);
    ip.srcIpAddrs.push(address);
    connections.set(id, ipam.selfPrefix());
    return address;
  };
  return {
    connections,
    request: (request, ctx, next) =>
      defer(() => {
        if (!ipam.initialized) throw unavailable('the vl3 prefix pool is initializing (no prefix from ipam-vl3 yet)');
        const ip = ipContextOf(request);
        const id = request.connection?.id ?? '';
        const previous = connections.get(id);
        let fresh: string | undefined;
        const peer = previous === undefined && isVl3Peer(request);
        if (peer) refuseOverlap(ip, ipam.selfPrefix(), request.connection?.networkServiceEndpointName ?? '', options.logger ?? silentLogger);
        if (previous !== undefined) {
          if (previous !== ipam.selfPrefix()) {
            forgetPrevious(ip, previous);
            allocate(ip, id);
          }
        } else if (!peer) fresh = allocate(ip, id);
        addRoute(ip.srcRoutes, ipam.selfAddress(), ipam.selfIp());
        addRoute(ip.srcRoutes, ipam.selfPrefix(), ipam.selfIp());
        for (const src of ip.srcIpAddrs) addRoute(ip.dstRoutes, src);
        addAddr(ip.dstIpAddrs, ipam.selfAddress());
        return next.request(request, ctx).pipe(
          map((conn) => {
            const answered = conn.context?.ipContext;
            // A peer has its own way to the whole network: a route per NSE it is connected to.
            if (answered && !peer) addRoute(answered.srcRoutes, ipam.globalPrefix(), ipam.selfIp());
            return conn;
          }),
          tap({
            error: () => {
              if (fresh === undefined) return;
              ipam.freeIfAllocated(fresh);
              connections.delete(id);
            },
          }),
        );
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        for (const src of conn.context?.ipContext?.srcIpAddrs ?? []) ipam.freeIfAllocated(src);
        connections.delete(conn.id);
        return next.close(conn, ctx);
      }),
  };
}

import { defer, EMPTY } from 'rxjs';
import { catchError, switchMap, take, tap } from 'rxjs/operators';
import { internal, unavailable } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import type { Vl3Ipam } from '../tools/vl3Ipam.js';
import { eventFactoryOf } from './begin/eventFactory.js';
import { addAddr, addRoute, ipContextOf } from './point2pointIpam.js';
import { forgetPrevious } from './vl3Server.js';

/**
 * `vl3Client(ipam)` (a vl3 NSE's connections to its peers, upstream ipcontext/vl3 client): the
 * NSE asks with its own address as source and routes to its address and prefix via itself; after
 * each successful Request a loop in begin waits for the NSE's next prefix (a reset of `ipam`) and
 * then Requests again, so the peer learns it (what lay in the old prefix dropped). Before the NSE has a prefix: UNAVAILABLE.
 *
 * ```
 * request  -R--------------R'      (R': begin's re-Request after the reset)
 * resets$     -----x
 * ```
 */
export function vl3Client(ipam: Vl3Ipam): NetworkServiceElement {
  const loopKey = Symbol('vl3Client');
  /** Connection id → the prefix its last Request was made with. */
  const askedWith = new Map<string, string>();
  return {
    request: (request, ctx, next) =>
      defer(() => {
        if (!ipam.initialized) throw unavailable('the vl3 prefix pool is initializing (no prefix from ipam-vl3 yet)');
        const factory = eventFactoryOf(ctx);
        if (factory === undefined) throw internal('vl3Client needs begin in its chain');
        const ip = ipContextOf(request);
        const id = request.connection?.id ?? '';
        const previous = askedWith.get(id);
        if (previous !== undefined && previous !== ipam.selfPrefix()) forgetPrevious(ip, previous);
        askedWith.set(id, ipam.selfPrefix());
        addAddr(ip.srcIpAddrs, ipam.selfAddress());
        addRoute(ip.dstRoutes, ipam.selfAddress(), ipam.selfIp());
        addRoute(ip.dstRoutes, ipam.selfPrefix(), ipam.selfIp());
        return next.request(request, ctx).pipe(
          tap(() =>
            factory.loop(
              loopKey,
              ipam.resets$.pipe(
                take(1),
                switchMap(() => factory.request().pipe(catchError(() => EMPTY))),
              ),
            ),
          ),
        );
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        askedWith.delete(conn.id);
        return next.close(conn, ctx);
      }),
  };
}

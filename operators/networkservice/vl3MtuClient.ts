import type { NetworkServiceElement } from '../core/networkservice.js';
import { localNotifierOf } from './upstreamRefresh.js';
import { MinimumMtu } from './vl3MtuServer.js';

/**
 * `vl3MtuClient()` (a vl3 NSE's connections to its peers, upstream connectioncontext/mtu/vl3mtu
 * client): the client side of vl3MtuServer. A Request asking for no MTU or more than the minimum
 * seen (9000 at first) asks for the minimum; an answer below it lowers it and asks the chain's
 * other connections to refresh through the LocalNotifier of an upstreamRefresh above (with
 * `localNotifications`; without one only the minimum changes), so they ask with the new MTU.
 *
 * ```
 * request(a)  MTU 0 → 9000, answered 9000
 * request(b)  MTU 0 → 9000, answered 1450    notify(b)
 * request(a)  MTU 9000 → 1450                (a refreshing on the notification)
 * ```
 */
export function vl3MtuClient(): NetworkServiceElement {
  const minimum = new MinimumMtu();
  return {
    request: (request, ctx, next) => minimum.request(request, ctx, next, (conn) => localNotifierOf(ctx)?.notify(conn.id)),
  };
}

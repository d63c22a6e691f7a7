import { defer, type Observable } from 'rxjs';
import { concatMap, map, take } from 'rxjs/operators';
import type { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import type { NSEElement } from '../core/registry.js';
import { parseNsmUrl, tcpUrl } from '../tools/nsmUrl.js';
import { swapped, type IpMap } from '../networkservice/swapIp.js';

/** The NSE with the host of its tcp URL through the map (other URLs as they are). */
function withSwappedUrl(nse: NetworkServiceEndpoint, ips: IpMap): NetworkServiceEndpoint {
  let url;
  try {
    url = parseNsmUrl(nse.url);
  } catch {
    return nse;
  }
  return url.scheme === 'tcp' ? { ...nse, url: tcpUrl(swapped(ips, url.host), url.port).href } : nse;
}

/**
 * `nseSwapIp(ips$)` (nsmgr-proxy NSE registry, upstream registry swapip): URLs cross the domain
 * boundary with external addresses: the host of the NSE's URL goes through the map-ip map on
 * Register (and in its answer), in a Find query and its results, and on Unregister.
 *
 * ```
 * register {url: tcp://10.0.0.5:5004} → next {url: tcp://1.2.3.4:5004}
 * ```
 */
export function nseSwapIp(ips$: Observable<IpMap>): NSEElement {
  const current = () => defer(() => ips$.pipe(take(1)));
  return {
    register: (nse, ctx, next) => current().pipe(concatMap((ips) => next.register(withSwappedUrl(nse, ips), ctx).pipe(map((r) => withSwappedUrl(r, ips))))),
    find: (query, ctx, next) =>
      current().pipe(
        concatMap((ips) =>
          next
            .find({ ...query, ...(query.networkServiceEndpoint ? { networkServiceEndpoint: withSwappedUrl(query.networkServiceEndpoint, ips) } : {}) }, ctx)
            .pipe(map((r) => (r.networkServiceEndpoint ? { ...r, networkServiceEndpoint: withSwappedUrl(r.networkServiceEndpoint, ips) } : r))),
        ),
      ),
    unregister: (nse, ctx, next) => current().pipe(concatMap((ips) => next.unregister(withSwappedUrl(nse, ips), ctx))),
  };
}

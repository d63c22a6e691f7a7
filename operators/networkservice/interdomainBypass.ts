import { defer } from 'rxjs';
import { map } from 'rxjs/operators';
import type { Connection } from '../../proto/gen/connection.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { targetOf } from '../tools/interdomain.js';
import type { InterdomainUrls } from '../registry/interdomainBypass.js';
import { clientUrlKey } from './clientUrl.js';

/** The connection as this domain names it: `@domain` dropped from the service and the endpoint. */
const local = (conn: Connection): Connection => ({ ...conn, networkService: targetOf(conn.networkService), networkServiceEndpointName: targetOf(conn.networkServiceEndpointName) });

/**
 * `interdomainBypass(urls)` (nsmgr-proxy, upstream interdomainbypass): an endpoint this proxy has
 * seen (a remote one found through it, or a floating one registered through it) is dialled at
 * the URL remembered for it. Anything else is for this domain: the request goes on (to discover)
 * with `@domain` dropped from the network service and endpoint names, and the answer gets the
 * caller's names back. Close alike.
 *
 * ```
 * proxy-1: {svc@cluster2, nse-1@cluster2} known → next (clientUrl = proxy-2), names as they are
 * proxy-2: {svc@cluster2, nse-1@cluster2} unknown → next {svc, nse-1} ─▶ answer {svc@cluster2, nse-1@cluster2}
 * ```
 */
export function interdomainBypass(urls: InterdomainUrls): NetworkServiceElement {
  return {
    request: (request, ctx, next) =>
      defer(() => {
        const conn = request.connection;
        const url = conn && urls.get(conn.networkServiceEndpointName);
        if (conn === undefined || url !== undefined) return next.request(request, url ? ctx.with(clientUrlKey, url) : ctx);
        const { networkService, networkServiceEndpointName } = conn;
        return next.request({ ...request, connection: local(conn) }, ctx).pipe(map((resp) => ({ ...resp, networkService, networkServiceEndpointName })));
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        const url = urls.get(conn.networkServiceEndpointName);
        return url !== undefined ? next.close(conn, ctx.with(clientUrlKey, url)) : next.close(local(conn), ctx);
      }),
  };
}

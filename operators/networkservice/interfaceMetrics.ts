import { concatMap, defer, map, of } from 'rxjs';
import type { Connection } from '../../proto/gen/connection.js';
import type { Datapath } from '../../dataplane/datapath.js';
import type { NetworkServiceElement } from '../core/networkservice.js';

/**
 * `interfaceMetrics(datapath)` (forwarder, before crossConnect): after every Request or refresh
 * puts the datapath's interface counters into this hop's path segment `metrics` (upstream
 * sdk-vpp stats), so the client sees them in the answer and monitors see them in the UPDATE
 * that follows. A datapath without counters leaves the segment as it is.
 *
 * ```
 * request ──▶ next ──conn──▶ metrics(conn.id) ──▶ conn with path.pathSegments[index].metrics
 * ```
 */
export function interfaceMetrics(datapath: Datapath): NetworkServiceElement {
  return {
    request: (request, ctx, next) =>
      next.request(request, ctx).pipe(
        concatMap((conn) => {
          const segment = conn.path?.pathSegments[conn.path.index];
          const read = datapath.metrics?.bind(datapath);
          if (read === undefined || segment === undefined) return of(conn);
          return defer(() => read(conn.id)).pipe(
            map((metrics): Connection => {
              segment.metrics = { ...segment.metrics, ...metrics };
              return conn;
            }),
          );
        }),
      ),
  };
}

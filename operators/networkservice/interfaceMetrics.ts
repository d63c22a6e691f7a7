import { concatMap, defaultIfEmpty, map, of, take } from 'rxjs';
import type { Connection } from '../../proto/gen/connection.js';
import type { Datapath } from '../../dataplane/datapath.js';
import type { NetworkServiceElement } from '../core/networkservice.js';

/**
 * `interfaceMetrics(datapath)` (forwarder, before crossConnect): after every Request or refresh
 * puts the latest sample of the datapath's interface counters into this hop's path segment
 * `metrics` (upstream sdk-vpp stats), so the client sees them in the answer and monitors see
 * them in the UPDATE that follows. It reads no counters itself: programming the datapath read
 * them a moment ago, and the stream replays that sample. A datapath without counters (or a
 * connection it has none for) leaves the segment as it is.
 *
 * ```
 * metrics(conn.id)  a────b────c       (a: what program read)
 * request ──▶ next ──conn──▶ conn with path.pathSegments[index].metrics = a
 * ```
 */
export function interfaceMetrics(datapath: Datapath): NetworkServiceElement {
  return {
    request: (request, ctx, next) =>
      next.request(request, ctx).pipe(
        concatMap((conn) => {
          const segment = conn.path?.pathSegments[conn.path.index];
          if (datapath.metrics === undefined || segment === undefined) return of(conn);
          return datapath.metrics(conn.id).pipe(
            take(1),
            map((metrics): Connection => {
              segment.metrics = { ...segment.metrics, ...metrics };
              return conn;
            }),
            defaultIfEmpty(conn),
          );
        }),
      ),
  };
}

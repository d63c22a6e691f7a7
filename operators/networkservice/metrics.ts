import { defer } from 'rxjs';
import { map } from 'rxjs/operators';
import type { NetworkServiceElement } from '../core/networkservice.js';
import type { Metrics } from '../tools/metrics.js';

/**
 * `metrics` (nsmgr, upstream common/metrics): after each Request and Close that succeeds, the
 * interface counters the path's segments carry (the forwarders' `*_rx_bytes`, …) go into the
 * daemon's per-connection counters; Close also forgets the connection's series.
 *
 * ```
 * next.request  --c(path with rx_bytes=10)|
 * request       --c|                         recorded: <forwarder>_client_rx_bytes{connection} += 10
 * ```
 */
export function metrics(sink: Pick<Metrics, 'recordPath'>): NetworkServiceElement {
  return {
    request: (request, ctx, next) =>
      defer(() => next.request(request, ctx)).pipe(
        map((conn) => {
          sink.recordPath(conn.path);
          return conn;
        }),
      ),
    close: (conn, ctx, next) =>
      defer(() => next.close(conn, ctx)).pipe(
        map(() => {
          sink.recordPath(conn.path, true);
        }),
      ),
  };
}

import { defer } from 'rxjs';
import { tap } from 'rxjs/operators';
import { State, type Connection } from '../../proto/gen/connection.js';
import { ConnectionContext } from '../../proto/gen/connectioncontext.js';
import type { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import type { ConnectionMonitor } from '../../streams/monitorConnections.js';
import { cloneConnection } from '../core/clone.js';
import type { NetworkServiceElement } from '../core/networkservice.js';

/** Where a vl3 network's minimum MTU starts (a jumbo frame), as upstream. */
export const JUMBO_FRAME_MTU = 9000;

/** Asks for `min` when the request names no MTU (0) or a larger one. */
export function clampMtu(request: NetworkServiceRequest, min: number): void {
  const conn = request.connection;
  if (conn === undefined) return;
  conn.context ??= ConnectionContext.fromPartial({});
  if (conn.context.MTU === 0 || conn.context.MTU > min) conn.context.MTU = min;
}

/**
 * The answered MTU when it is below `min`, else undefined. An answer without an MTU (0) says
 * nothing about the path; taking it would pin the whole network at "unset".
 */
export function lowerMtu(conn: Connection, min: number): number | undefined {
  const mtu = conn.context?.MTU ?? 0;
  return mtu > 0 && mtu < min ? mtu : undefined;
}

/** `vl3MtuServer` with what it knows (leak checks). */
export interface Vl3MtuServerElement extends NetworkServiceElement {
  /** The vl3 network's minimum MTU so far. */
  readonly minMtu: number;
  /** The connections it would ask to refresh, by id. */
  readonly connections: ReadonlyMap<string, Connection>;
}

/**
 * `vl3MtuServer(connections)` (vl3 NSE, upstream connectioncontext/mtu/vl3mtu server): every
 * client of the vl3 network uses its smallest MTU. A Request asking for none or more gets the
 * minimum so far (9000 at first); an answer below it (a path with a smaller MTU) lowers it, and
 * every other connection is published on the endpoint's monitor with the new MTU and state
 * REFRESH_REQUESTED, so its client (upstreamRefresh) Requests again and gets the new MTU.
 * `connections` must be the monitor the endpoint serves (`EndpointOptions.monitor`).
 *
 * ```
 * request(a)  MTU 0 → 9000, answered 9000
 * request(b)  MTU 0 → 9000, answered 1450    published: a{MTU 1450, REFRESH_REQUESTED}
 * request(a)  MTU 9000 → 1450                (a's client refreshing)
 * ```
 */
export function vl3MtuServer(connections: ConnectionMonitor): Vl3MtuServerElement {
  let minMtu = JUMBO_FRAME_MTU;
  const known = new Map<string, Connection>();
  return {
    get minMtu() {
      return minMtu;
    },
    connections: known,
    request: (request, ctx, next) =>
      defer(() => {
        clampMtu(request, minMtu);
        return next.request(request, ctx).pipe(
          tap((conn) => {
            const lower = lowerMtu(conn, minMtu);
            if (lower !== undefined) {
              minMtu = lower;
              // A snapshot: an answer to a refresh this publishes may come back before the loop ends.
              const others = [...known.values()].filter((c) => c.id !== conn.id);
              for (const other of others) {
                const marked = cloneConnection(other);
                marked.context ??= ConnectionContext.fromPartial({});
                marked.context.MTU = lower;
                marked.state = State.REFRESH_REQUESTED;
                connections.update(marked);
              }
            }
            known.set(conn.id, cloneConnection(conn));
          }),
        );
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        known.delete(conn.id);
        return next.close(conn, ctx);
      }),
  };
}

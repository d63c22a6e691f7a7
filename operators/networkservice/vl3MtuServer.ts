import { defer, type Observable } from 'rxjs';
import { tap } from 'rxjs/operators';
import { State, type Connection } from '../../proto/gen/connection.js';
import { ConnectionContext } from '../../proto/gen/connectioncontext.js';
import type { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import type { ConnectionMonitor } from '../../streams/monitorConnections.js';
import { cloneConnection } from '../core/clone.js';
import type { Context } from '../core/context.js';
import type { NetworkServiceElement, NetworkServiceHandler } from '../core/networkservice.js';

/** Where a vl3 network's minimum MTU starts (a jumbo frame), as upstream. */
export const JUMBO_FRAME_MTU = 9000;

/**
 * The smallest MTU a vl3 element has heard of (9000 at first). `request` asks for it when the
 * request names no MTU (0) or a larger one, and an answer below it lowers it and is told to
 * `lowered`; an answer without an MTU (0) says nothing about the path and is ignored, or it would
 * pin the whole network at "unset".
 */
export class MinimumMtu {
  value = JUMBO_FRAME_MTU;

  request(request: NetworkServiceRequest, ctx: Context, next: NetworkServiceHandler, lowered: (conn: Connection, mtu: number) => void): Observable<Connection> {
    return defer(() => {
      const conn = request.connection;
      if (conn !== undefined) {
        conn.context ??= ConnectionContext.fromPartial({});
        if (conn.context.MTU === 0 || conn.context.MTU > this.value) conn.context.MTU = this.value;
      }
      return next.request(request, ctx).pipe(
        tap((answer) => {
          const mtu = answer.context?.MTU ?? 0;
          if (mtu <= 0 || mtu >= this.value) return;
          this.value = mtu;
          lowered(answer, mtu);
        }),
      );
    });
  }
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
  const minimum = new MinimumMtu();
  const known = new Map<string, Connection>();
  const refreshOthers = (conn: Connection, mtu: number) => {
    // A snapshot: an answer to a refresh this publishes may come back before the loop ends.
    for (const other of [...known.values()].filter((c) => c.id !== conn.id)) {
      const marked = cloneConnection(other);
      marked.context ??= ConnectionContext.fromPartial({});
      marked.context.MTU = mtu;
      marked.state = State.REFRESH_REQUESTED;
      connections.update(marked);
    }
  };
  return {
    get minMtu() {
      return minimum.value;
    },
    connections: known,
    request: (request, ctx, next) => minimum.request(request, ctx, next, refreshOthers).pipe(tap((conn) => known.set(conn.id, cloneConnection(conn)))),
    close: (conn, ctx, next) =>
      defer(() => {
        known.delete(conn.id);
        return next.close(conn, ctx);
      }),
  };
}

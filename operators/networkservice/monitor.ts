import { asyncScheduler, EMPTY, type Observable, type SchedulerLike } from 'rxjs';
import { tap } from 'rxjs/operators';
import { State } from '../../proto/gen/connection.js';
import type { ConnectionMonitor } from '../../streams/monitorConnections.js';
import { cloneConnection } from '../core/clone.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { eventFactoryOf } from './begin/eventFactory.js';
import { nextHopReader, type NextHopEvents } from './nextHop.js';

/**
 * `monitor(connectionMonitor)` (server side): publishes this hop's connections on its
 * MonitorConnection service: UPDATE after a Request, DELETE after a Close, DOWN when a refresh
 * of an existing connection fails. A passthrough hop (one that dialed a next hop) also watches
 * the next hop's monitor for its segment and republishes what it hears; losing that stream means
 * the path below is broken, which it reports as DOWN so the client can heal.
 *
 * ```
 * downstream events  --U(ctx2)---D-------   or   --U---#
 * published          --U(ctx2)---DOWN----          --U---DOWN
 * ```
 * The watch is a loop in begin (stopped when a Close starts, so the DELETE that follows is no
 * news) on the connection's one stream from the next hop (nextHop.ts), which stays open until
 * the Close has returned, by when the next hop has normally ended it itself.
 */
export function monitor(connections: ConnectionMonitor, options: { scheduler?: SchedulerLike } = {}): NetworkServiceElement {
  const nextHopOf = nextHopReader(options.scheduler ?? asyncScheduler);
  const loopKey = Symbol('monitor.passthrough');

  /** Republishes what the next hop says about the connection. */
  const passthrough = (nextHop: NextHopEvents): Observable<unknown> => {
    // Losing the stream means the path below is broken: DOWN, so the client heals. A stream that
    // just ends is lost too (upstream's eventLoop reads io.EOF as an error, and an upstream hop
    // ends it with OK when it shuts down), unless a DELETE on it already reported DOWN.
    const lost = () => {
      const current = nextHop.view.current;
      if (current.state !== State.DOWN) connections.update({ ...cloneConnection(current), state: State.DOWN });
    };
    return nextHop.connections.pipe(tap({ next: (conn) => connections.update(conn), error: lost, complete: lost }));
  };

  return {
    request: (request, ctx, next) =>
      next.request(request, ctx).pipe(
        tap({
          next: (conn) => {
            connections.update(conn);
            const factory = eventFactoryOf(ctx);
            if (factory === undefined) return;
            const nextHop = nextHopOf(ctx, conn);
            factory.loop(loopKey, nextHop ? passthrough(nextHop) : EMPTY);
          },
          error: () => {
            // A failed refresh of an established connection: its path is no longer known good.
            const established = connections.get(request.connection?.id ?? '');
            if (established) connections.update({ ...established, state: State.DOWN });
          },
        }),
      ),
    // DELETE goes out before the Close answer, so a previous hop hears it and its stream ends first.
    close: (conn, ctx, next) => next.close(conn, ctx).pipe(tap({ next: () => connections.delete(conn), error: () => connections.delete(conn) })),
  };
}

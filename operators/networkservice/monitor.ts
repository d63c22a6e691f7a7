import { asyncScheduler, EMPTY, Observable, Subscription, type SchedulerLike } from 'rxjs';
import { catchError, concatMap, tap } from 'rxjs/operators';
import {
  ConnectionEventType,
  MonitorConnectionService,
  State,
  type Connection,
  type ConnectionEvent,
} from '../../proto/gen/connection.js';
import { cloneConnection } from '../core/clone.js';
import { Context, ContextKey } from '../core/context.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { currentSegment } from '../core/path.js';
import { deepEqual } from '../tools/deepEqual.js';
import { serverStreamCall } from '../../streams/grpc/call.js';
import type { PooledChannel } from '../../streams/grpc/channelPool.js';
import type { ConnectionMonitor } from '../../streams/monitorConnections.js';
import { clientConnOf } from './dial.js';
import { metadataOf } from './metadata.js';

/**
 * Turns the next hop's events about `conn` into events about this hop's view of it (upstream
 * monitor clientFilter): same connection, downstream path and context, DELETE seen as DOWN;
 * unchanged views and initial transfers that report no change are dropped.
 */
export function passthroughEvents(downstream: Observable<ConnectionEvent>, conn: Connection): Observable<Connection> {
  let current = cloneConnection(conn);
  const index = current.path?.index ?? 0;
  return downstream.pipe(
    concatMap((event) => {
      const out: Connection[] = [];
      for (const incoming of Object.values(event.connections)) {
        const segments = incoming.path?.pathSegments ?? [];
        const at = incoming.path?.index ?? 0;
        if (segments.length < index + 1 || segments[index]?.id !== current.id) continue;
        if (at !== index && at !== index + 1) continue;
        if (event.type === ConnectionEventType.INITIAL_STATE_TRANSFER && incoming.state === current.state) continue;
        const view = cloneConnection(current);
        view.path = { index, pathSegments: segments };
        view.context = incoming.context;
        view.state = event.type === ConnectionEventType.DELETE ? State.DOWN : incoming.state;
        if (deepEqual(view, current)) continue;
        current = view;
        out.push(cloneConnection(view));
      }
      return out;
    }),
  );
}

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
 */
export function monitor(connections: ConnectionMonitor, options: { scheduler?: SchedulerLike } = {}): NetworkServiceElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const loopKey = new ContextKey<Subscription>('monitor.passthrough');

  const watchDownstream = (channel: PooledChannel, conn: Connection): Subscription => {
    const own = currentSegment(conn);
    const selector = { pathSegments: [{ name: own?.name ?? '', id: own?.id ?? '', token: '', expires: undefined, metrics: {} }], networkServices: [] };
    const events = serverStreamCall(channel.client, MonitorConnectionService.monitorConnections, selector, Context.background, scheduler);
    let last = conn;
    return passthroughEvents(events, conn)
      .pipe(
        tap((view) => (last = view)),
        catchError(() => {
          connections.update({ ...cloneConnection(last), state: State.DOWN });
          return EMPTY;
        }),
      )
      .subscribe((view) => connections.update(view));
  };

  return {
    request: (request, ctx, next) => {
      const meta = metadataOf(ctx);
      const previous = meta.delete(loopKey);
      previous?.unsubscribe();
      const requested = request.connection ? cloneConnection(request.connection) : undefined;
      return next.request(request, ctx).pipe(
        tap({
          next: (conn) => {
            connections.update(conn);
            const channel = clientConnOf(ctx);
            if (channel) meta.set(loopKey, watchDownstream(channel, conn));
          },
          error: () => {
            if (previous && requested) connections.update({ ...requested, state: State.DOWN });
          },
        }),
      );
    },
    close: (conn, ctx, next) => {
      metadataOf(ctx).delete(loopKey)?.unsubscribe();
      return next.close(conn, ctx).pipe(tap({ finalize: () => connections.delete(conn) }));
    },
  };
}

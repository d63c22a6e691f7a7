import { asyncScheduler, Observable, Subscription, type SchedulerLike } from 'rxjs';
import { concatMap } from 'rxjs/operators';
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

/** This hop's latest view of a connection, which passthrough events are applied to. */
export interface ConnectionView {
  current: Connection;
}

/**
 * Turns the next hop's events about `conn` into events about this hop's view of it (upstream
 * monitor clientFilter): same connection, downstream path and context, DELETE seen as DOWN;
 * unchanged views and initial transfers that report no change are dropped.
 */
export function passthroughEvents(
  downstream: Observable<ConnectionEvent>,
  conn: Connection,
  view: ConnectionView = { current: cloneConnection(conn) },
): Observable<Connection> {
  return downstream.pipe(
    concatMap((event) => {
      const out: Connection[] = [];
      for (const incoming of Object.values(event.connections)) {
        const current = view.current;
        const index = current.path?.index ?? 0;
        const segments = incoming.path?.pathSegments ?? [];
        const at = incoming.path?.index ?? 0;
        if (segments.length < index + 1 || segments[index]?.id !== current.id) continue;
        if (at !== index && at !== index + 1) continue;
        if (event.type === ConnectionEventType.INITIAL_STATE_TRANSFER && incoming.state === current.state) continue;
        const next = cloneConnection(current);
        next.path = { index, pathSegments: segments };
        next.context = incoming.context;
        next.state = event.type === ConnectionEventType.DELETE ? State.DOWN : incoming.state;
        if (deepEqual(next, current)) continue;
        view.current = next;
        out.push(cloneConnection(next));
      }
      return out;
    }),
  );
}

/** A passthrough hop's watch on the next hop's monitor for one connection. */
class DownstreamWatch {
  readonly subscription: Subscription;
  /** Set while this hop closes the connection itself: the DELETE that follows is no news. */
  quiet = false;
  private readonly view: ConnectionView;

  constructor(
    readonly channel: PooledChannel,
    conn: Connection,
    connections: ConnectionMonitor,
    scheduler: SchedulerLike,
  ) {
    this.view = { current: cloneConnection(conn) };
    const own = currentSegment(conn);
    const selector = {
      pathSegments: [{ name: own?.name ?? '', id: own?.id ?? '', token: '', expires: undefined, metrics: {} }],
      networkServices: [],
    };
    const events = serverStreamCall(channel, MonitorConnectionService.monitorConnections, selector, Context.background, scheduler);
    // Losing the stream means the path below is broken: report DOWN so the client heals. A stream
    // that just ends is lost too (upstream's eventLoop reads io.EOF as an error, and an upstream
    // hop ends it with OK when it shuts down), unless a DELETE on it already reported DOWN.
    const lost = () => {
      if (!this.quiet && this.view.current.state !== State.DOWN) connections.update({ ...cloneConnection(this.view.current), state: State.DOWN });
    };
    this.subscription = passthroughEvents(events, conn, this.view).subscribe({
      next: (conn) => this.quiet || connections.update(conn),
      error: lost,
      complete: lost,
    });
  }

  /** A refresh through the same next hop keeps the stream and updates the view. */
  refreshed(conn: Connection): void {
    this.view.current = cloneConnection(conn);
  }
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
 * On Close the watch goes quiet first and is dropped only after the Close returns, by when the
 * next hop has normally ended the stream itself (see ConnectionMonitor.monitorConnections).
 */
export function monitor(connections: ConnectionMonitor, options: { scheduler?: SchedulerLike } = {}): NetworkServiceElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const watchKey = new ContextKey<Subscription>('monitor.passthrough');
  const watches = new WeakMap<Subscription, DownstreamWatch>();

  return {
    request: (request, ctx, next) => {
      const meta = metadataOf(ctx);
      const existing = meta.get(watchKey);
      const id = request.connection?.id ?? '';
      return new Observable<Connection>((subscriber) =>
        next.request(request, ctx).subscribe({
          next: (conn) => {
            connections.update(conn);
            const channel = clientConnOf(ctx);
            const watch = existing && watches.get(existing);
            if (watch && watch.channel === channel && !existing.closed) watch.refreshed(conn);
            else {
              meta.delete(watchKey)?.unsubscribe();
              if (channel) {
                const fresh = new DownstreamWatch(channel, conn, connections, scheduler);
                watches.set(fresh.subscription, fresh);
                meta.set(watchKey, fresh.subscription);
              }
            }
            subscriber.next(conn);
          },
          error: (e: unknown) => {
            // A failed refresh of an established connection: its path is no longer known good.
            const established = connections.get(id);
            if (established) connections.update({ ...established, state: State.DOWN });
            subscriber.error(e);
          },
          complete: () => subscriber.complete(),
        }),
      );
    },
    close: (conn, ctx, next) => {
      const meta = metadataOf(ctx);
      const watching = meta.get(watchKey);
      const watch = watching && watches.get(watching);
      if (watch) watch.quiet = true;
      const done = () => {
        // DELETE goes out before the Close answer, so a previous hop hears it and its stream ends first.
        connections.delete(conn);
        meta.delete(watchKey)?.unsubscribe();
      };
      return new Observable<void>((subscriber) =>
        next.close(conn, ctx).subscribe({
          next: (v) => {
            done();
            subscriber.next(v);
          },
          error: (e: unknown) => {
            done();
            subscriber.error(e);
          },
          complete: () => subscriber.complete(),
        }),
      );
    },
  };
}

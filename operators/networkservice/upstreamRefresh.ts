import { asyncScheduler, EMPTY, merge, Observable, Subject, type SchedulerLike } from 'rxjs';
import { catchError, endWith, filter, finalize, map, switchMap, take, tap } from 'rxjs/operators';
import { ConnectionEventType, State, type Connection } from '../../proto/gen/connection.js';
import type { ConnectionMonitor } from '../../streams/monitorConnections.js';
import { cloneConnection } from '../core/clone.js';
import { ContextKey, type Context } from '../core/context.js';
import { messageOf } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { silentLogger, type Logger } from '../tools/log.js';
import { eventFactoryOf, type EventFactory } from './begin/eventFactory.js';
import { nextHopReader, type MonitorSource, type NextHopEvents } from './nextHop.js';

/**
 * Lets an element of the client chain ask every other connection of the same upstreamRefresh
 * element to refresh (upstream's Notifier; vl3mtu uses it when it lowers the MTU).
 */
export interface LocalNotifier {
  /** Every watched connection except `initiatorId` re-Requests once. */
  notify(initiatorId: string): void;
}

const localNotifierKey = new ContextKey<LocalNotifier>('upstreamRefresh.localNotifier');

/** The local notifier handed down by an upstreamRefresh element with local notifications. */
export function localNotifierOf(ctx: Context): LocalNotifier | undefined {
  return ctx.get(localNotifierKey);
}

/** The connections of one client chain, as a stream of "refresh all but this id" signals. */
class Notifier implements LocalNotifier {
  private readonly initiators = new Subject<string>();

  notify(initiatorId: string): void {
    this.initiators.next(initiatorId);
  }

  /** Signals meant for `id`: anyone's notification but its own. */
  signalsFor(id: string): Observable<string> {
    return this.initiators.pipe(filter((initiator) => initiator !== id));
  }
}

export interface UpstreamRefreshOptions {
  scheduler?: SchedulerLike;
  /**
   * Also refresh the element's other connections after one was asked to refresh from
   * upstream, and hand elements below a LocalNotifier (upstream WithLocalNotifications).
   */
  localNotifications?: boolean;
  /** The next hop's events, one stream per Request (tests); default: the connection's shared stream. */
  monitor?: MonitorSource;
  logger?: Logger;
}

/**
 * `upstreamRefresh` (client side, upstream common/upstreamrefresh): after each successful
 * Request it watches the next hop's MonitorConnections for its own segment; an UPDATE (or an
 * initial state) that reports the connection REFRESH_REQUESTED — an endpoint changed something
 * the client must pick up, such as the MTU — re-Requests it once through begin's event factory.
 * The re-Request starts the next watch (and the next hop's store by then says UP again).
 *
 * ```
 * request   -R---------------------------C
 * monitor    ^---U---RR                  (REFRESH_REQUESTED)
 * refresh   ---------R
 * monitor             ^------------------!  (dropped after Close returned)
 * ```
 * With `localNotifications`, every other connection the element watches re-Requests once after
 * that refresh, and elements below get a LocalNotifier (`localNotifierOf(ctx)`) to ask for the
 * same. A stream that errors or ends ends the watch (upstream does not heal it: the next Request
 * watches again). The watch is a loop in begin, stopped when a Close starts, on the connection's
 * one stream from the next hop (nextHop.ts), shared with heal and open until the Close returned.
 */
export function upstreamRefresh(options: UpstreamRefreshOptions = {}): NetworkServiceElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const logger = options.logger ?? silentLogger;
  const notifier = options.localNotifications ? new Notifier() : undefined;
  const nextHopOf = nextHopReader(scheduler, options.monitor, 'upstreamRefresh');
  const loopKey = Symbol('upstreamRefresh');

  /** One Request's watch (upstream's eventLoop): re-Requests at most once. */
  const watch = (factory: EventFactory, nextHop: NextHopEvents): Observable<unknown> => {
    const id = nextHop.view.current.id;
    const upstream = nextHop.connections.pipe(
      filter((c) => c.state === State.REFRESH_REQUESTED),
      map(() => 'upstream' as const),
      // Upstream ends the whole loop with the stream; the next Request watches again.
      catchError(() => EMPTY),
      endWith('ended' as const),
    );
    // The signals first: a REFRESH_REQUESTED already in the initial state fires at once.
    return merge(notifier?.signalsFor(id).pipe(map(() => 'local' as const)) ?? EMPTY, upstream).pipe(
      take(1),
      filter((from) => from !== 'ended'),
      switchMap((from) => {
        logger.debug(from === 'upstream' ? 'refresh requested from upstream' : 'refresh requested by another connection', { id });
        return factory.request().pipe(
          tap({ error: (err: unknown) => logger.warn('upstream refresh failed', { id, error: messageOf(err) }) }),
          catchError(() => EMPTY),
          // The others follow once it settled: finalize, as its own success replaces this loop
          // (and, as upstream, also when a Close drops it).
          finalize(() => from === 'upstream' && notifier?.notify(id)),
        );
      }),
    );
  };

  return {
    request: (request, ctx, next) => {
      const factory = eventFactoryOf(ctx);
      const below = notifier === undefined ? ctx : ctx.with(localNotifierKey, notifier);
      if (factory === undefined) return next.request(request, below);
      return next.request(request, below).pipe(
        tap((conn) => {
          const nextHop = nextHopOf(ctx, conn);
          factory.loop(loopKey, nextHop ? watch(factory, nextHop) : EMPTY);
        }),
      );
    },
  };
}

/**
 * Server side (what upstream endpoints do through the monitor's event consumer): asks the
 * clients of `connections` to refresh by publishing them on this hop's monitor with state
 * REFRESH_REQUESTED, e.g. with a lowered MTU in their context. The store keeps that state until
 * the next Request publishes the connection again, so a client whose Request is still on its way
 * back hears it in the initial state of its next watch.
 */
export function requestRefresh(monitor: ConnectionMonitor, connections: readonly Connection[]): void {
  if (connections.length === 0) return;
  const marked: { [id: string]: Connection } = {};
  for (const c of connections) marked[c.id] = { ...cloneConnection(c), state: State.REFRESH_REQUESTED };
  monitor.send({ type: ConnectionEventType.UPDATE, connections: marked });
}

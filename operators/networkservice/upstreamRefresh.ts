import { asyncScheduler, defer, Observable, Subject, Subscription, type SchedulerLike } from 'rxjs';
import { filter, tap } from 'rxjs/operators';
import { ConnectionEventType, State, type Connection, type ConnectionEvent } from '../../proto/gen/connection.js';
import type { ConnectionMonitor } from '../../streams/monitorConnections.js';
import { cloneConnection } from '../core/clone.js';
import { ContextKey, type Context } from '../core/context.js';
import { messageOf } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { silentLogger, type Logger } from '../tools/log.js';
import { eventFactoryOf, type EventFactory } from './begin/eventFactory.js';
import { nextHopMonitor, type MonitorSource } from './heal.js';
import { closeWatched, metadataOf } from './metadata.js';
import { passthroughEvents } from './monitor.js';

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
  /** Next hop's monitor stream (default: `nextHopMonitor(scheduler)`); injectable for tests. */
  monitor?: MonitorSource;
  logger?: Logger;
}

/** One Request's watch (upstream's eventLoop): fires at most once. */
class RefreshWatch {
  private done = false;
  private readonly subscription = new Subscription();
  private stream: Subscription | undefined;

  constructor(
    readonly conn: Connection,
    private readonly factory: EventFactory,
    private readonly notifier: Notifier | undefined,
    private readonly logger: Logger,
  ) {}

  start(events: Observable<ConnectionEvent>): void {
    const id = this.conn.id;
    // The signals first: a REFRESH_REQUESTED already in the initial state fires at once.
    if (this.notifier !== undefined) {
      this.subscription.add(this.notifier.signalsFor(id).subscribe(() => this.fire('local')));
    }
    // Only UPDATEs and initial states count (a DELETE is no request to refresh).
    const updates = events.pipe(filter((e) => e.type !== ConnectionEventType.DELETE));
    this.stream = passthroughEvents(updates, this.conn).subscribe({
      next: (c) => c.state === State.REFRESH_REQUESTED && this.fire('upstream'),
      // Upstream ends the whole loop with the stream; the next Request watches again.
      error: () => this.quiet(),
      complete: () => this.quiet(),
    });
  }

  private fire(from: 'upstream' | 'local'): void {
    if (this.done) return;
    this.quiet();
    const id = this.conn.id;
    this.logger.debug(from === 'upstream' ? 'refresh requested from upstream' : 'refresh requested by another connection', { id });
    // Detached: the Request re-enters this element and replaces this watch.
    this.factory.request().subscribe({
      error: (err: unknown) => {
        this.logger.warn('upstream refresh failed', { id, error: messageOf(err) });
        if (from === 'upstream') this.notifier?.notify(id);
      },
      complete: () => {
        if (from === 'upstream') this.notifier?.notify(id);
      },
    });
  }

  /** Stops acting on anything; the stream stays open (the server ends it after the DELETE). */
  quiet(): void {
    this.done = true;
    this.subscription.unsubscribe();
  }

  /** Cancels everything (metadata's dispose calls this too). */
  release(): void {
    this.quiet();
    this.stream?.unsubscribe();
  }
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
 * watches again). Close ignores news at once and drops the stream after the Close returned.
 */
export function upstreamRefresh(options: UpstreamRefreshOptions = {}): NetworkServiceElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const source = options.monitor ?? nextHopMonitor(scheduler);
  const logger = options.logger ?? silentLogger;
  const notifier = options.localNotifications ? new Notifier() : undefined;
  const watchKey = new ContextKey<RefreshWatch>('upstreamRefresh.watch');

  const watch = (conn: Connection, ctx: Context): void => {
    const factory = eventFactoryOf(ctx);
    if (factory === undefined) return;
    const events = source(conn, ctx);
    if (events === undefined) return;
    const w = new RefreshWatch(cloneConnection(conn), factory, notifier, logger);
    metadataOf(ctx).set(watchKey, w);
    w.start(events);
  };

  return {
    request: (request, ctx, next) =>
      defer(() => {
        metadataOf(ctx).delete(watchKey)?.release();
        const below = notifier === undefined ? ctx : ctx.with(localNotifierKey, notifier);
        return next.request(request, below).pipe(tap((conn) => watch(conn, ctx)));
      }),
    close: (conn, ctx, next) => closeWatched(ctx, watchKey, () => next.close(conn, ctx)),
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

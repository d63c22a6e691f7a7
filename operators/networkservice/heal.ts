import { status } from '@grpc/grpc-js';
import { asyncScheduler, defer, interval, Observable, of, Subscription, type SchedulerLike } from 'rxjs';
import { catchError, defaultIfEmpty, exhaustMap, filter, take, tap, timeout } from 'rxjs/operators';
import {
  MonitorConnectionService,
  State,
  type Connection,
  type ConnectionEvent,
  type MonitorScopeSelector,
} from '../../proto/gen/connection.js';
import type { LivenessCheck } from '../../dataplane/datapath.js';
import { serverStreamCall } from '../../streams/grpc/call.js';
import { cloneConnection } from '../core/clone.js';
import { Context, ContextKey } from '../core/context.js';
import { messageOf, statusOf } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { currentSegment } from '../core/path.js';
import { silentLogger, type Logger } from '../tools/log.js';
import { eventFactoryOf, type EventFactory } from './begin/eventFactory.js';
import { clientConnOf } from './dial.js';
import type { ConnectionView } from './monitor.js';
import { closeWatched, metadataOf } from './metadata.js';
import { passthroughEvents } from './monitor.js';

/**
 * Where a client hears about its connection from the next hop: the next hop's
 * MonitorConnections stream for the client's own segment. `undefined` means there is no next hop
 * to watch (no channel was dialed), and then nothing is watched at all.
 */
export type MonitorSource = (conn: Connection, ctx: Context) => Observable<ConnectionEvent> | undefined;

/** Upstream defaults: liveness every 200 ms, each check allowed 100 ms. */
export const LIVENESS_CHECK_INTERVAL = 200;
export const LIVENESS_CHECK_TIMEOUT = 100;

/** The selector a client watches with: exactly its own segment, by id and name. */
export function ownSegmentSelector(conn: Connection): MonitorScopeSelector {
  const own = currentSegment(conn);
  return { pathSegments: [{ name: own?.name ?? '', id: own?.id ?? '', token: '', expires: undefined, metrics: {} }], networkServices: [] };
}

/**
 * The default source: MonitorConnections on the connection's pooled channel to the next hop
 * (set by `dial`), selecting the client's own segment. No channel → undefined (nothing to watch).
 */
export function nextHopMonitor(scheduler: SchedulerLike = asyncScheduler): MonitorSource {
  return (conn, ctx) => {
    const channel = clientConnOf(ctx);
    if (channel === undefined) return undefined;
    return serverStreamCall(channel, MonitorConnectionService.monitorConnections, ownSegmentSelector(conn), Context.background, scheduler);
  };
}

export interface HealOptions {
  scheduler?: SchedulerLike;
  /** Data-plane check; without one a control-plane loss always reselects. */
  livenessCheck?: LivenessCheck;
  /** Period of the data-plane check, ms (default 200). */
  livenessInterval?: number;
  /** Time one check may take before it counts as dead, ms (default 100). */
  livenessTimeout?: number;
  /** Next hop's monitor stream (default: `nextHopMonitor(scheduler)`); injectable for tests. */
  monitor?: MonitorSource;
  logger?: Logger;
}

/** A heal element with its live heal loops by connection id (for leak checks). */
export interface HealElement extends NetworkServiceElement {
  readonly healing: ReadonlyMap<string, unknown>;
}

interface Settings {
  readonly scheduler: SchedulerLike;
  readonly livenessCheck: LivenessCheck | undefined;
  readonly livenessInterval: number;
  readonly livenessTimeout: number;
  readonly logger: Logger;
}

/** One liveness check as a single boolean: late, failed or silent checks are `false`. */
function probe(settings: Settings, check: LivenessCheck, conn: Connection): Observable<boolean> {
  return defer(() => check(conn)).pipe(
    timeout({ first: settings.livenessTimeout, with: () => of(false), scheduler: settings.scheduler }),
    take(1),
    defaultIfEmpty(false),
    catchError(() => of(false)),
  );
}

/**
 * The watch one successful Request starts (upstream's eventLoop): the next hop's stream for the
 * connection and, with a liveness check, the periodic probe. It fires at most once.
 */
class Watch {
  /** Fired, cancelled by the server, or being closed: nothing more is acted on. */
  private done = false;
  /** It fired (so a heal loop owns the connection now). */
  fired = false;
  private stream: Subscription | undefined;
  private ticker: Subscription | undefined;

  /** The connection as last refreshed; the next hop's events are applied to it. */
  private readonly view: ConnectionView;

  constructor(
    private readonly settings: Settings,
    conn: Connection,
    /** The next hop's channel (default source), so a refresh through it can keep this watch. */
    readonly via: unknown,
    private readonly onLost: (watch: Watch, reselect: boolean) => void,
  ) {
    this.view = { current: conn };
  }

  get conn(): Connection {
    return this.view.current;
  }

  /** Still watching (not fired, cancelled or closing). */
  get live(): boolean {
    return !this.done;
  }

  /** A refresh through the same next hop: keep the stream, follow the refreshed connection. */
  refreshed(conn: Connection): void {
    this.view.current = cloneConnection(conn);
  }

  start(events: Observable<ConnectionEvent>): void {
    const { livenessCheck } = this.settings;
    // Control plane lost: without a data-plane check there is nothing to tell a broken path
    // from a broken control plane, so pick anew; with one, the heal loop probes first.
    const ctrlPlaneDown = () => this.fire(livenessCheck === undefined);
    this.stream = passthroughEvents(events, this.view.current, this.view).subscribe({
      next: (c) => c.state === State.DOWN && ctrlPlaneDown(),
      // CANCELLED: this side closed the stream (upstream: "the client closed the connection").
      error: (err: unknown) => (statusOf(err) === status.CANCELLED ? this.quiet() : ctrlPlaneDown()),
      // A stream that ends is lost too (upstream reads io.EOF as an error).
      complete: ctrlPlaneDown,
    });
    if (livenessCheck !== undefined && !this.done) {
      this.ticker = interval(this.settings.livenessInterval, this.settings.scheduler)
        .pipe(
          exhaustMap(() => probe(this.settings, livenessCheck, this.conn)),
          filter((alive) => !alive),
          take(1),
        )
        .subscribe(() => this.fire(true));
    }
  }

  private fire(reselect: boolean): void {
    if (this.done) return;
    this.quiet();
    this.fired = true;
    this.onLost(this, reselect);
  }

  /** Stops acting on anything; the stream stays open (the server ends it after the DELETE). */
  quiet(): void {
    this.done = true;
    this.ticker?.unsubscribe();
  }

  /** Cancels everything (metadata's dispose calls this too). */
  release(): void {
    this.quiet();
    this.stream?.unsubscribe();
  }
}

/** The heal loop of one connection: re-Request until one succeeds, each failure retried at once. */
class HealLoop {
  private stopped = false;
  /** A Request is queued or running in begin (not cancelled by stop: begin serialises it). */
  requesting = false;
  /** The pending probe or the next try. */
  private pending: Subscription | undefined;

  constructor(
    private readonly settings: Settings,
    private readonly factory: EventFactory,
    private readonly conn: Connection,
    private reselect: boolean,
    private readonly done: (loop: HealLoop) => void,
  ) {}

  step(): void {
    if (this.stopped) return;
    const { livenessCheck } = this.settings;
    if (this.reselect || livenessCheck === undefined) return this.send();
    // Control plane lost but maybe not the data plane: keep the endpoint if the path still works.
    // (`pending` is set first: a probe that answers at once may already have replaced it.)
    const probing = new Subscription();
    this.pending = probing;
    probing.add(
      probe(this.settings, livenessCheck, this.conn).subscribe((alive) => {
        if (!alive) this.reselect = true;
        this.send();
      }),
    );
  }

  private send(): void {
    if (this.stopped) return;
    this.requesting = true;
    const { logger, scheduler } = this.settings;
    logger.info(this.reselect ? 'healing with reselect' : 'healing', { id: this.conn.id });
    // Detached from the loop: the Request re-enters heal, which must not cancel it.
    this.factory.request(this.reselect ? { reselect: true } : {}).subscribe({
      error: (err: unknown) => {
        this.requesting = false;
        logger.warn('heal failed', { id: this.conn.id, error: messageOf(err) });
        // At once, as upstream; scheduled (not called) so that a next hop failing synchronously
        // does not grow the stack.
        if (!this.stopped) this.pending = scheduler.schedule(() => this.step());
      },
      // Healed, or begin no longer holds the connection (closed meanwhile): nothing left to do.
      complete: () => {
        this.requesting = false;
        this.stop();
      },
    });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.pending?.unsubscribe();
    this.done(this);
  }
}

/**
 * `heal` (client side, upstream common/heal): after each successful Request it watches the next
 * hop's MonitorConnections for its own segment and, with a liveness check, probes the data plane
 * every 200 ms. The connection is healed when
 * - the stream errors with any code but CANCELLED, or ends (the next hop died or restarted);
 * - the connection is reported DOWN, or DELETEd (an INITIAL_STATE_TRANSFER that agrees with the
 *   connection's current state is no news);
 * - a periodic liveness check says dead (→ reselect).
 *
 * Healing re-Requests through begin's event factory: without a liveness check it reselects
 * (Close, forget mechanism and endpoint, Request); with one it probes first: alive → plain
 * re-Request to the same endpoint, dead → reselect (and stays reselect). A failed try is retried
 * at once, as upstream, until one succeeds or the connection is closed; every try is bounded by
 * the budget begin gives its events (and, on a plain re-Request, preceded by a fresh probe).
 *
 * ```
 * request   -R-----------------------C
 * monitor    ^--U---D                  (DOWN: heal)
 * heal       --------R--!R--!R--       (reselect: Close + Request; a failure is retried at once)
 * monitor                      ^-----!   (new watch; dropped after Close returned)
 * ```
 * Every Request (refresh, heal, caller) first drops the previous watch; a successful one starts a
 * new watch and ends any heal loop. A failed re-Request of a watched connection that was not
 * being healed starts watching the old connection again, so a later DOWN still heals (a DOWN the
 * next hop published for the failed refresh arrives as its initial state and heals at once).
 * Close stops the heal loop, the probes and the watch at once but unsubscribes the stream only
 * after the Close returned: the next hop ends a pinned stream itself after its DELETE, and many
 * client-side cancels on one channel trip Node's HTTP/2 rapid-reset limit.
 */
export function heal(options: HealOptions = {}): HealElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const settings: Settings = {
    scheduler,
    livenessCheck: options.livenessCheck,
    livenessInterval: options.livenessInterval ?? LIVENESS_CHECK_INTERVAL,
    livenessTimeout: options.livenessTimeout ?? LIVENESS_CHECK_TIMEOUT,
    logger: options.logger ?? silentLogger,
  };
  const source = options.monitor ?? nextHopMonitor(scheduler);
  const watchKey = new ContextKey<Watch>('heal.watch');
  // Heal loops live outside the connection's metadata: a reselect Closes (and so wipes the
  // metadata) and a failed first Request after it leaves none, yet the loop must go on.
  const healing = new Map<string, HealLoop>();

  const stopHealing = (id: string): void => healing.get(id)?.stop();

  /** Starts watching `conn` (upstream startEventLoop); no begin or no next hop → no watch. */
  const watch = (conn: Connection, ctx: Context): void => {
    const factory = eventFactoryOf(ctx);
    if (factory === undefined) return;
    const events = source(conn, ctx);
    if (events === undefined) return;
    const meta = metadataOf(ctx);
    // A watch that fired stays in the metadata (quiet) until the next Request or the Close
    // drops it, so that its stream is not cancelled while the next hop may still end it.
    const w = new Watch(settings, cloneConnection(conn), options.monitor ? undefined : clientConnOf(ctx)?.client, (fired, reselect) => {
      const id = fired.conn.id;
      if (healing.has(id)) return;
      settings.logger.warn(reselect ? 'connection lost, reselecting' : 'control plane lost', { id });
      const loop = new HealLoop(settings, factory, fired.conn, reselect, (l) => healing.get(id) === l && healing.delete(id));
      healing.set(id, loop);
      loop.step();
    });
    meta.set(watchKey, w);
    w.start(events);
  };

  return {
    healing,
    request: (request, ctx, next) =>
      defer(() => {
        const meta = metadataOf(ctx);
        const previous = meta.get(watchKey);
        // A watch that cannot be kept (not on a pooled channel) ends now, as upstream's does.
        if (previous !== undefined && previous.via === undefined) {
          meta.delete(watchKey);
          previous.release();
        }
        const old = request.connection === undefined ? undefined : cloneConnection(request.connection);
        return next.request(request, ctx).pipe(
          tap({
            next: (conn) => {
              stopHealing(conn.id);
              // Through the same next hop the open stream goes on: cancelling one stream per
              // refresh per connection costs an RST_STREAM each (see streams/monitorConnections).
              if (previous?.live && previous.via !== undefined && previous.via === clientConnOf(ctx)?.client) {
                previous.refreshed(conn);
                return;
              }
              if (meta.get(watchKey) === previous) meta.delete(watchKey);
              previous?.release();
              watch(conn, ctx);
            },
            error: () => {
              // A failed refresh: keep watching the connection it was meant to refresh (a heal
              // loop, if one fired the watch, retries by itself).
              if (previous?.live && previous.via !== undefined) return;
              if (meta.get(watchKey) === previous) meta.delete(watchKey);
              previous?.release();
              if (previous !== undefined && !previous.fired && old !== undefined) watch(old, ctx);
            },
          }),
        );
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        const loop = healing.get(conn.id);
        // A Close arriving while the loop's own Request runs is that Request's reselect Close.
        if (loop !== undefined && !loop.requesting) loop.stop();
        return closeWatched(ctx, watchKey, () => next.close(conn, ctx));
      }),
  };
}

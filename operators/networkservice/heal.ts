import { status } from '../core/status.js';
import { asyncScheduler, defer, EMPTY, interval, merge, NEVER, Observable, of, timer, type SchedulerLike } from 'rxjs';
import { catchError, concatMap, defaultIfEmpty, endWith, exhaustMap, filter, finalize, map, retry, switchMap, take, tap, timeout } from 'rxjs/operators';
import { State, type Connection } from '../../proto/gen/connection.js';
import type { LivenessCheck } from '../../dataplane/datapath.js';
import { cloneConnection } from '../core/clone.js';
import { messageOf, statusOf } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { silentLogger, type Logger } from '../tools/log.js';
import type { HealKind } from '../tools/metrics.js';
import { eventFactoryOf, type EventFactory } from './begin/eventFactory.js';
import { nextHopReader, type MonitorSource, type NextHopEvents } from './nextHop.js';

/** Upstream defaults: liveness every 200 ms, each check allowed 100 ms. */
export const LIVENESS_CHECK_INTERVAL = 200;
export const LIVENESS_CHECK_TIMEOUT = 100;

export interface HealOptions {
  scheduler?: SchedulerLike;
  /** Data-plane check; without one a control-plane loss always reselects. */
  livenessCheck?: LivenessCheck;
  /** Period of the data-plane check, ms (default 200). */
  livenessInterval?: number;
  /** Time one check may take before it counts as dead, ms (default 100). */
  livenessTimeout?: number;
  /** The next hop's events, one stream per Request (tests); default: the connection's shared stream. */
  monitor?: MonitorSource;
  logger?: Logger;
  /** Told of each heal re-Request, and whether it reselects (metrics). */
  onHeal?: (kind: HealKind) => void;
}

/** A heal element with the connections it is healing now (for leak checks). */
export interface HealElement extends NetworkServiceElement {
  readonly healing: ReadonlyMap<string, unknown>;
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
 * The watch and the heal that follows it are one loop in begin; every successful Request
 * (refresh, heal, caller) replaces it with a watch of the connection it returned, which ends any
 * heal. A failed re-Request of an established connection that is not being healed watches the
 * old connection again, so a later DOWN still heals. A Close (begin) stops the loop at once —
 * the probes, the tries, the news — but not a reselect's Close inside a try. The stream is the
 * connection's one stream from the next hop (nextHop.ts), shared with upstreamRefresh and kept
 * open until the Close has returned.
 */
export function heal(options: HealOptions = {}): HealElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const { livenessCheck } = options;
  const livenessInterval = options.livenessInterval ?? LIVENESS_CHECK_INTERVAL;
  const livenessTimeout = options.livenessTimeout ?? LIVENESS_CHECK_TIMEOUT;
  const logger = options.logger ?? silentLogger;
  const nextHopOf = nextHopReader(scheduler, options.monitor, 'heal');
  const loopKey = Symbol('heal');
  const healing = new Map<string, object>();

  /** One liveness check as a single boolean: late, failed or silent checks are `false`. */
  const alive = (check: LivenessCheck, conn: Connection): Observable<boolean> =>
    defer(() => check(conn)).pipe(
      timeout({ first: livenessTimeout, with: () => of(false), scheduler }),
      take(1),
      defaultIfEmpty(false),
      catchError(() => of(false)),
    );

  /** Re-Requests until one succeeds; without `reselect` each try probes first, and dead → reselect from then on. */
  const heal = (factory: EventFactory, nextHop: NextHopEvents, reselectFirst: boolean): Observable<unknown> =>
    defer(() => {
      let reselect = reselectFirst;
      const id = nextHop.view.current.id;
      return defer(() => (reselect || livenessCheck === undefined ? of(true) : alive(livenessCheck, nextHop.view.current).pipe(map((up) => !up)))).pipe(
        concatMap((dead) => {
          reselect = dead;
          logger.info(reselect ? 'healing with reselect' : 'healing', { id });
          options.onHeal?.(reselect ? 'reselect' : 'reconnect');
          return factory.request(reselect ? { reselect: true } : {});
        }),
        tap({ error: (err: unknown) => logger.warn('heal failed', { id, error: messageOf(err) }) }),
        // At once, as upstream; through the scheduler, so a next hop failing synchronously does not spin.
        retry({ delay: () => timer(0, scheduler) }),
      );
    });

  /** The watch of one Request (upstream's eventLoop) and the heal it starts. */
  const watch = (factory: EventFactory, nextHop: NextHopEvents): Observable<unknown> => {
    const id = nextHop.view.current.id;
    const me = {};
    // The next hop reports DOWN (a DELETE reads so), or its stream is lost: it ends (upstream
    // reads io.EOF as an error) or fails with any code but CANCELLED (this side closed it).
    const ctrlPlane = nextHop.connections.pipe(
      filter((c) => c.state === State.DOWN),
      map(() => 'lost' as const),
      endWith('lost' as const),
      catchError((err: unknown) => of(statusOf(err) === status.CANCELLED ? ('cancelled' as const) : ('lost' as const))),
    );
    const dataPlane =
      livenessCheck === undefined
        ? NEVER
        : interval(livenessInterval, scheduler).pipe(
            exhaustMap(() => alive(livenessCheck, nextHop.view.current)),
            filter((up) => !up),
            map(() => 'dead' as const),
          );
    return merge(ctrlPlane, dataPlane).pipe(
      take(1),
      filter((why) => why !== 'cancelled'),
      switchMap((why) => {
        // Without a data-plane check nothing tells a broken path from a broken control plane: pick
        // anew; with one, a control-plane loss probes first and keeps the endpoint if it answers.
        const reselect = why === 'dead' || livenessCheck === undefined;
        logger.warn(reselect ? 'connection lost, reselecting' : 'control plane lost', { id });
        healing.set(id, me);
        return heal(factory, nextHop, reselect);
      }),
      finalize(() => healing.get(id) === me && healing.delete(id)),
    );
  };

  return {
    healing,
    request: (request, ctx, next) => {
      const factory = eventFactoryOf(ctx);
      if (factory === undefined) return next.request(request, ctx);
      const old = request.connection && cloneConnection(request.connection);
      /** Watches `conn` (upstream startEventLoop); no next hop → no watch. */
      const watchConn = (conn: Connection) => {
        const nextHop = nextHopOf(ctx, conn);
        factory.loop(loopKey, nextHop ? watch(factory, nextHop) : EMPTY);
      };
      return next.request(request, ctx).pipe(
        tap({
          next: watchConn,
          error: () => {
            // A failed refresh: watch the connection it was meant to refresh again (a DOWN the next
            // hop published for it then heals); a heal under way retries by itself.
            if (old !== undefined && factory.established && !healing.has(old.id)) watchConn(old);
          },
        }),
      );
    },
  };
}

import { asyncScheduler, defer, EMPTY, Observable, of, timer, type SchedulerLike } from 'rxjs';
import { catchError, concatMap, filter, map, repeat, retry, switchMap, take, takeUntil, tap } from 'rxjs/operators';
import type { Connection } from '../../proto/gen/connection.js';
import { NetworkService } from '../../proto/gen/registry.js';
import { cloneConnection } from '../core/clone.js';
import type { Context } from '../core/context.js';
import { messageOf } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { earliestExpiry } from '../core/path.js';
import type { NSEHandler, NSHandler } from '../core/registry.js';
import { matchEndpoint } from '../registry/matching.js';
import { silentLogger, type Logger } from '../tools/log.js';
import { eventFactoryOf, type EventFactory } from './begin/eventFactory.js';
import { findEndpoints } from './discover.js';

/** Pause before a broken or ended network service watch is opened again (upstream: 100 ms). */
export const NETSVC_WATCH_RETRY_INTERVAL = 100;

export interface NetsvcMonitorOptions {
  readonly ns: NSHandler;
  readonly nse: NSEHandler;
  /**
   * Every version of a network service, shared by the node (RegistryViews.networkServiceVersions);
   * none: a Find-watch on `ns` per connection.
   */
  readonly networkService?: (name: string) => Observable<NetworkService | undefined>;
  /** Clock for the watch's end (earliest token expiry) and the re-watch pause. */
  readonly scheduler?: SchedulerLike;
  /** Pause before re-opening the watch (default 100 ms). */
  readonly retryInterval?: number;
  readonly logger?: Logger;
}

/**
 * `netsvcMonitor` (nsmgr, after `discoverForwarder`): closes a connection whose network service
 * was changed so that the connection's endpoint no longer qualifies; the client's heal then finds
 * a new one.
 *
 * After each successful Request it keeps a Find-watch on the network service (by name) until
 * the earliest token expiry of the returned path (a refresh re-arms it before then) or Close.
 * On every version of the service the watch delivers — the first being the current one — it
 * Finds the chosen endpoint (the connection's `network_service_endpoint_name`) once: not
 * registered → nothing to say; registered but `matchEndpoint(connection labels, service, [it])`
 * is empty → Close through begin's event factory and stop watching. The watch is a loop in begin,
 * which ends it when a Close starts; a failed re-Request ends it too. A watch that ends or
 * breaks is opened again after `retryInterval`; a failed endpoint lookup skips that version.
 *
 * ```
 * request  ─R──────────────────────────────────────────C
 * ns watch   └─{ns v1}───{ns v2}───|  100ms └─{ns v2}──{ns v3: nse no longer matches}
 * nse find        └{nse}|   └{nse}|            └{nse}|     └{nse}| → factory.close() ─┘
 * ```
 *
 * A connection without an endpoint name is not watched (upstream would Find every endpoint by
 * the empty name); a path whose segments have no expiry is watched until Close.
 */
export function netsvcMonitor(options: NetsvcMonitorOptions): NetworkServiceElement {
  const { ns, nse } = options;
  const scheduler = options.scheduler ?? asyncScheduler;
  const interval = options.retryInterval ?? NETSVC_WATCH_RETRY_INTERVAL;
  const logger = options.logger ?? silentLogger;
  const loopKey = Symbol('netsvcMonitor');

  /** Closes `conn` (through `factory`) once its endpoint no longer qualifies for its service. */
  const watch = (conn: Connection, factory: EventFactory, ctx: Context): Observable<unknown> => {
    const nseName = conn.networkServiceEndpointName;
    // The watch outlives this call: no deadline, same values.
    const watchCtx = ctx.withoutDeadline();

    /** true when the service no longer allows the connection's endpoint. */
    const noLongerMatches = (service: NetworkService): Observable<boolean> =>
      findEndpoints(nse, { name: nseName }, watchCtx).pipe(
        map((nses) => nses.length > 0 && matchEndpoint(conn.labels, service, nses).length === 0),
        catchError(() => of(false)),
      );

    const versions =
      options.networkService?.(conn.networkService) ??
      defer(() => ns.find({ networkService: NetworkService.fromPartial({ name: conn.networkService }), watch: true }, watchCtx)).pipe(map((r) => r.networkService));
    const mismatch = versions.pipe(
      concatMap((service) => (service === undefined ? of(false) : noLongerMatches(service))),
      filter(Boolean),
      repeat({ delay: () => timer(interval, scheduler) }),
      retry({ delay: () => timer(interval, scheduler) }),
      take(1),
    );
    const expiry = earliestExpiry(conn);
    return (expiry === undefined ? mismatch : mismatch.pipe(takeUntil(timer(Math.max(0, expiry - scheduler.now()), scheduler)))).pipe(
      switchMap(() => {
        logger.warn('netsvcMonitor: the endpoint no longer matches its network service; closing the connection', {
          id: conn.id,
          networkService: conn.networkService,
          endpoint: nseName,
        });
        return factory.close().pipe(tap({ error: (e: unknown) => logger.warn('netsvcMonitor: close failed', { id: conn.id, error: messageOf(e) }) }));
      }),
    );
  };

  return {
    request: (request, ctx, next) => {
      const factory = eventFactoryOf(ctx);
      if (factory === undefined) return next.request(request, ctx);
      return next.request(request, ctx).pipe(
        tap({
          next: (returned) => {
            const conn = cloneConnection(returned);
            factory.loop(loopKey, conn.networkServiceEndpointName === '' ? EMPTY : watch(conn, factory, ctx));
          },
          // A failed re-Request leaves no watch behind (upstream drops it when a Request starts).
          error: () => factory.loop(loopKey, EMPTY),
        }),
      );
    },
  };
}

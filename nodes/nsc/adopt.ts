import { BehaviorSubject, catchError, defer, filter, firstValueFrom, map, of, switchMap, tap, timeout as rxTimeout, type Observable } from 'rxjs';
import { ConnectionEventType, MonitorConnectionService, State, type Connection } from '../../proto/gen/connection.js';
import type { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { cloneConnection } from '../../operators/core/clone.js';
import { Context } from '../../operators/core/context.js';
import type { NetworkServiceHandler } from '../../operators/core/networkservice.js';
import type { LivenessCheck } from '../../dataplane/datapath.js';
import type { NsmUrl } from '../../operators/tools/nsmUrl.js';
import type { Logger } from '../../operators/tools/log.js';
import { serverStreamCall } from '../../streams/grpc/call.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';

/** The nsmgr's connections whose path has segment `id` (upstream cmd-nsc startMonitoring), as they change. */
export interface MonitoredConnections {
  current(): readonly Connection[];
  stop(): void;
}

/**
 * Watches the nsmgr's MonitorConnections for segment id `id` (the selector upstream's nsc
 * sends): waits for the first event up to `waitMs` (none, or a failed call: no connections),
 * then takes every later one; a DELETE leaves the connection DOWN, as upstream. Until `stop`.
 */
export async function monitorConnections(pool: ChannelPool, url: NsmUrl, id: string, waitMs: number): Promise<MonitoredConnections> {
  const channel = pool.acquire(url);
  const known = new BehaviorSubject<ReadonlyMap<string, Connection>>(new Map());
  const selector = { pathSegments: [{ name: '', id, token: '', expires: undefined, metrics: {} }], networkServices: [] };
  const subscription = serverStreamCall(channel, MonitorConnectionService.monitorConnections, selector, Context.background).subscribe({
    next: (event) => {
      const next = new Map(known.value);
      for (const [key, conn] of Object.entries(event.connections)) next.set(key, event.type === ConnectionEventType.DELETE ? { ...conn, state: State.DOWN } : conn);
      known.next(next);
    },
    error: () => known.complete(), // no (more) news: what was seen stays, adoption works from it
  });
  await firstValueFrom(known.pipe(filter((m, i) => i > 0 || m.size > 0), rxTimeout(waitMs))).catch(() => undefined);
  return {
    current: () => [...known.value.values()],
    stop: () => {
      subscription.unsubscribe();
      channel.release();
    },
  };
}

/**
 * Upstream cmd-nsc's constructRequest: the request for `fresh`'s id, adopting the nsmgr's
 * connection of that id when it starts at our segment (the nsmgr's view: path index 1) with
 * the mechanism type we ask for — same path and ids, so every hop and the NSE's IPAM keep what
 * they have. A DOWN one whose datapath does not answer (or with no liveness check) becomes a
 * reselect: mechanism and endpoint cleared, RESELECT_REQUESTED, as upstream.
 */
export function adoptedRequest(fresh: NetworkServiceRequest, monitored: readonly Connection[], alive: LivenessCheck | undefined): Observable<NetworkServiceRequest> {
  const id = fresh.connection?.id ?? '';
  const type = fresh.mechanismPreferences[0]?.type;
  const existing = monitored.find((c) => c.path?.index === 1 && c.path.pathSegments[0]?.id === id && c.mechanism?.type === type);
  if (existing === undefined) return of(fresh);
  const conn = cloneConnection(existing);
  if (conn.path) conn.path.index = 0;
  conn.id = id;
  const request = { ...fresh, connection: conn };
  if (conn.state !== State.DOWN) return of(request);
  return (alive ? alive(conn).pipe(catchError(() => of(false))) : of(false)).pipe(
    map((up) => (up ? request : { ...request, connection: { ...conn, mechanism: undefined, networkServiceEndpointName: '', state: State.RESELECT_REQUESTED } })),
  );
}

/**
 * The nsc's first Request of each connection (under a retry): every try is built anew from what
 * the nsmgr's monitor says then (adoptedRequest), as upstream's loop does. Unlike upstream, a
 * try of an adopted connection that failed (within NSM_REQUEST_TIMEOUT) makes the next try a
 * reselect: a dead endpoint behind it is not asked for again and again (upstream would, until
 * the nsmgr reports the connection DOWN).
 */
export function adopting(next: NetworkServiceHandler, monitored: () => readonly Connection[], alive: LivenessCheck | undefined, log: Logger): NetworkServiceHandler {
  const failedOnce = new Set<string>();
  return {
    request: (fresh, ctx) =>
      defer(() => {
        const id = fresh.connection?.id ?? '';
        const failed = failedOnce.has(id);
        const seen = failed ? monitored().map((c) => ({ ...c, state: State.DOWN })) : monitored();
        return adoptedRequest(fresh, seen, failed ? undefined : alive).pipe(
          switchMap((request) => {
            const adopted = request !== fresh && request.connection?.state !== State.RESELECT_REQUESTED;
            if (request.connection?.state === State.RESELECT_REQUESTED) log.info('the endpoint of the existing connection is unavailable: reselecting', { id, afterFailedTry: failed });
            else if (adopted) log.info('adopting the existing connection', { id, endpoint: request.connection?.networkServiceEndpointName });
            return next.request(request, ctx).pipe(
              tap({
                next: () => failedOnce.delete(id),
                error: () => (adopted ? failedOnce.add(id) : undefined),
              }),
            );
          }),
        );
      }),
    close: next.close,
  };
}

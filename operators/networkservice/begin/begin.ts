import { asyncScheduler, concat, defer, EMPTY, Observable, of, throwError, type SchedulerLike } from 'rxjs';
import { catchError, ignoreElements, tap } from 'rxjs/operators';
import { State, type Connection } from '../../../proto/gen/connection.js';
import type { NetworkServiceRequest } from '../../../proto/gen/networkservice.js';
import type { Context } from '../../core/context.js';
import { invalidArgument } from '../../core/errors.js';
import type { NetworkServiceElement, NetworkServiceHandler } from '../../core/networkservice.js';
import { ConnectionEntry, defaultReselect, eventFactoryKey, type ReselectFunc } from './eventFactory.js';
import { mergeConnection } from './merge.js';
import { onSettle } from '../../tools/onSettle.js';

export interface BeginOptions {
  scheduler?: SchedulerLike;
  /** Client side: what a reselect does to the stored request (default: upstream's). */
  reselect?: ReselectFunc;
}

/** Live view of a begin element's connections, for leak checks and introspection. */
export interface BeginElement extends NetworkServiceElement {
  readonly connections: ReadonlyMap<string, ConnectionEntry>;
}

/**
 * `begin` (server side): every event of one connection id runs in FIFO order, one at a time.
 *
 * ```
 * request(id=a) ---R1-----|            (R2 for the same id waits for R1)
 * request(id=a) ------------R2--|
 * close(id=a)   -------------------C-|  (Close uses the connection R2 returned)
 * ```
 * Close of an unknown id is a no-op; a failed first Request forgets the id; an established
 * connection re-requested with RESELECT_REQUESTED is first Closed downstream. Transparent when a
 * begin already runs for this call (a client chain inside a server chain).
 *
 * Elements below keep their per-connection loops here (`eventFactoryOf(ctx).loop`): refresh's
 * timer, timeout's, heal's and upstreamRefresh's watch of the next hop, monitor's passthrough,
 * netsvcMonitor's. What a loop asks for is serialised with the caller's events; every loop is
 * unsubscribed when a Close starts, so an event a loop queued behind it is dropped.
 * ```
 * loop (timeout) -------- t ·C(queued)          (dropped: the refresh re-armed the loop)
 * events          --R(refresh)------|
 * ```
 */
export function beginServer(options: BeginOptions = {}): BeginElement {
  return makeBegin(false, options);
}

/**
 * `begin` (client side): as the server side, plus the three-way merge of a re-request with the
 * established connection, and an event factory that can reselect (Close, reset, Request).
 */
export function beginClient(options: BeginOptions = {}): BeginElement {
  return makeBegin(true, options);
}

function makeBegin(client: boolean, options: BeginOptions): BeginElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const reselect = client ? (options.reselect ?? defaultReselect) : undefined;
  const connections = new Map<string, ConnectionEntry>();

  const entryFor = (id: string, ctx: Context, next: NetworkServiceHandler): ConnectionEntry => {
    let entry = connections.get(id);
    if (entry === undefined) {
      const created: ConnectionEntry = new ConnectionEntry(ctx, next, scheduler, (e) => {
        if (connections.get(id) === e) connections.delete(id);
      }, reselect);
      connections.set(id, created);
      entry = created;
    }
    return entry;
  };

  const request = (req: NetworkServiceRequest, ctx: Context, next: NetworkServiceHandler): Observable<Connection> => {
    const id = req.connection?.id ?? '';
    if (id === '') return throwError(() => invalidArgument('request.connection.id must not be empty'));
    if (ctx.get(eventFactoryKey) !== undefined) return next.request(req, ctx);
    const entry = entryFor(id, ctx, next);
    return entry.executor.exec(() => {
      // Closed and re-created while we waited: start again with the current entry.
      if (connections.get(id) !== entry) return request(req, ctx, next);
      const conn = req.connection as Connection;
      if (client) req.connection = mergeConnection(entry.returned, conn, entry.last?.connection);
      const requestNext = () => next.request(req, ctx.with(eventFactoryKey, entry));
      const reselected = !client && entry.established && conn.state === State.RESELECT_REQUESTED ? entry.last?.connection : undefined;
      // Closed to the end before the new Request, so its clean-up cannot undo the new set-up.
      const closeOld = (old: Connection): Observable<never> =>
        defer(() => {
          entry.stopLoops();
          return next.close(old, entry.eventContext());
        }).pipe(
          ignoreElements(),
          catchError(() => EMPTY),
          onSettle(() => (entry.established = false)),
        );
      let settled = false;
      return (reselected ? concat(closeOld(reselected), defer(requestNext)) : requestNext()).pipe(
        tap({
          next: (result) => {
            if (!client) result.state = State.UP;
            entry.remember(req, result, ctx);
            settled = true;
          },
          error: () => {
            settled = true;
            if (!entry.established) entry.closed();
          },
          // Cancelled before an answer: a first Request that never completed is forgotten.
          unsubscribe: () => {
            if (!settled && !entry.established) entry.closed();
          },
        }),
      );
    });
  };

  const close = (conn: Connection, ctx: Context, next: NetworkServiceHandler): Observable<void> => {
    if (ctx.get(eventFactoryKey) !== undefined) return next.close(conn, ctx);
    const entry = connections.get(conn.id);
    if (entry === undefined) return of(undefined);
    return entry.executor.exec(() => {
      const last = entry.last?.connection;
      if (!entry.established || last === undefined || connections.get(conn.id) !== entry) return of(undefined);
      entry.stopLoops();
      // Always close what the chain last returned, not what the caller holds.
      return defer(() => next.close(last, ctx.with(eventFactoryKey, entry))).pipe(onSettle(() => entry.closed()));
    });
  };

  return { request, close, connections };
}

import { concat, defer, EMPTY, Observable, type SchedulerLike } from 'rxjs';
import { catchError, ignoreElements, map } from 'rxjs/operators';
import { State, type Connection } from '../../../proto/gen/connection.js';
import type { NetworkServiceRequest } from '../../../proto/gen/networkservice.js';
import { cloneConnection, cloneRequest } from '../../core/clone.js';
import { Context, ContextKey } from '../../core/context.js';
import type { NetworkServiceHandler } from '../../core/networkservice.js';
import { onSettle } from '../../tools/onSettle.js';
import { SerialExecutor } from '../../tools/serialExecutor.js';

/**
 * Lets an element further down re-enter the chain below `begin` for one connection (refresh,
 * heal, timeout, upstream refresh), serialised with that connection's other events and given the
 * same time budget the first Request had.
 */
export interface EventFactory {
  /** Re-Request the last returned connection; with `reselect` (client) Close it and pick anew. */
  request(options?: { reselect?: boolean }): Observable<void>;
  /**
   * Close the connection as begin would; skipped if `cancelled()` holds when its turn comes
   * (upstream begin.CancelContext: an event queued behind others may no longer be wanted).
   */
  close(options?: { cancelled?: () => boolean }): Observable<void>;
}

export const eventFactoryKey = new ContextKey<EventFactory>('begin.eventFactory');

/** The factory of the connection this call belongs to (set by `begin`). */
export function eventFactoryOf(ctx: Context): EventFactory | undefined {
  return ctx.get(eventFactoryKey);
}

/** What a reselect does to the stored request before it is sent again. */
export type ReselectFunc = (request: NetworkServiceRequest) => void;

/** Upstream's default: forget the mechanism and the endpoint, ask every hop to reselect. */
export const defaultReselect: ReselectFunc = (request) => {
  const conn = request.connection;
  if (!conn) return;
  conn.mechanism = undefined;
  conn.networkServiceEndpointName = '';
  conn.state = State.RESELECT_REQUESTED;
};

/** Like the default but keeps the endpoint (upstream ReselectWithSameEndpointFunc). */
export const reselectWithSameEndpoint: ReselectFunc = (request) => {
  const conn = request.connection;
  if (!conn) return;
  conn.mechanism = undefined;
  conn.state = State.RESELECT_REQUESTED;
};

/** Per-connection state of `begin`: one executor, the last request/response and call context. */
export class ConnectionEntry implements EventFactory {
  readonly executor = new SerialExecutor();
  established = false;
  /** The last successful request, its connection replaced by the one returned. */
  last: NetworkServiceRequest | undefined;
  /** The connection as last returned to the caller (client merge input). */
  returned: Connection | undefined;
  private valuesCtx: Context;
  private readonly budget: number | undefined;

  constructor(
    ctx: Context,
    private readonly next: NetworkServiceHandler,
    private readonly scheduler: SchedulerLike,
    private readonly forget: (entry: ConnectionEntry) => void,
    /** Client side only: what a reselect does; also marks re-requested connections UP. */
    private readonly reselectFunc: ReselectFunc | undefined,
  ) {
    this.valuesCtx = ctx;
    const remaining = ctx.remaining(scheduler.now());
    this.budget = Number.isFinite(remaining) ? remaining : undefined;
  }

  /** Context for calls the entry makes itself: latest values, fresh copy of the first budget. */
  eventContext(): Context {
    return this.valuesCtx.withBudget(this.scheduler.now(), this.budget).with(eventFactoryKey, this);
  }

  /** Records a successful Request. */
  remember(request: NetworkServiceRequest, conn: Connection, ctx: Context): void {
    const kept = cloneConnection(conn);
    this.last = { connection: kept, mechanismPreferences: request.mechanismPreferences.map((m) => ({ ...m, parameters: { ...m.parameters } })) };
    // Only the client side merges against what it last returned; it must not see later edits.
    if (this.reselectFunc) this.returned = cloneConnection(conn);
    this.established = true;
    this.valuesCtx = ctx;
  }

  /** After Close (or a failed first Request): the id is forgotten. */
  closed(): void {
    this.established = false;
    this.forget(this);
  }

  request(options: { reselect?: boolean } = {}): Observable<void> {
    return this.executor.exec(() => {
      const last = this.last;
      if (!this.established || last === undefined) return EMPTY;
      const request = cloneRequest(last);
      const reselect = options.reselect && this.reselectFunc;
      // A reselect Closes the old connection first, to the end: its clean-up must not run
      // after the new Request has set things up.
      const before: Observable<never> = reselect
        ? defer(() => this.next.close(request.connection as Connection, this.eventContext())).pipe(
            ignoreElements(),
            catchError(() => EMPTY),
            onSettle(() => (reselect as ReselectFunc)(request)),
          )
        : EMPTY;
      return concat(before, defer(() => this.next.request(request, this.eventContext()))).pipe(
        map((conn) => {
          if (this.reselectFunc) conn.state = State.UP;
          last.connection = cloneConnection(conn);
        }),
      );
    });
  }

  close(options: { cancelled?: () => boolean } = {}): Observable<void> {
    return this.executor.exec(() => {
      const last = this.last;
      if (last === undefined || !this.established || options.cancelled?.()) return EMPTY;
      return defer(() => this.next.close(last.connection as Connection, this.eventContext())).pipe(
        onSettle(() => this.closed()),
        map(() => undefined),
      );
    });
  }
}

import { concat, defer, EMPTY, Observable, Subscription, type SchedulerLike } from 'rxjs';
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
 * same time budget the first Request had. An event unsubscribed while it waits for its turn is
 * dropped (upstream begin.CancelContext); once started it runs to its end, whoever stops
 * listening, and begin remembers its result.
 */
export interface EventFactory {
  /** A Request succeeded and the connection was not Closed since. */
  readonly established: boolean;
  /** Re-Request the last returned connection; with `reselect` (client) Close it and pick anew. */
  request(options?: { reselect?: boolean }): Observable<void>;
  /** Close the connection as begin would. */
  close(): Observable<void>;
  /**
   * Keeps `work` subscribed for this connection under `key` (an element's per-connection loop:
   * the events it asks for when something happens), replacing the loop held there. begin
   * unsubscribes every loop when a Close starts (the caller's, or one asked for through
   * `close()`; not the Close a reselect does inside `request`) and when it forgets the id.
   */
  loop(key: symbol, work: Observable<unknown>): void;
  /** Unsubscribes every loop (a Close starts, or the hop shuts down). */
  stopLoops(): void;
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

/** Per-connection state of `begin`: one executor, the last request/response and call context, the loops. */
export class ConnectionEntry implements EventFactory {
  readonly executor = new SerialExecutor();
  established = false;
  /** The elements' loops for this connection, by key. */
  readonly loops = new Map<symbol, Subscription>();
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
    this.stopLoops();
    this.forget(this);
  }

  loop(key: symbol, work: Observable<unknown>): void {
    const previous = this.loops.get(key);
    const loop = new Subscription();
    this.loops.set(key, loop);
    const ended = () => this.loops.get(key) === loop && this.loops.delete(key);
    // The new loop first: a stream both read (shared) is never left without a reader between.
    loop.add(work.subscribe({ error: ended, complete: ended }));
    previous?.unsubscribe();
  }

  stopLoops(): void {
    const loops = [...this.loops.values()];
    this.loops.clear();
    for (const loop of loops) loop.unsubscribe();
  }

  request(options: { reselect?: boolean } = {}): Observable<void> {
    return this.executor.execToEnd(() => {
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

  close(): Observable<void> {
    return this.executor.execToEnd(() => {
      const last = this.last;
      if (last === undefined || !this.established) return EMPTY;
      this.stopLoops();
      return defer(() => this.next.close(last.connection as Connection, this.eventContext())).pipe(
        onSettle(() => this.closed()),
        map(() => undefined),
      );
    });
  }
}

import { Observable, Subject, Subscription, type SchedulerLike } from 'rxjs';
import { concatMap, subscribeOn } from 'rxjs/operators';
import {
  ConnectionEventType,
  MonitorConnectionService,
  State,
  type Connection,
  type ConnectionEvent,
  type MonitorScopeSelector,
} from '../../proto/gen/connection.js';
import { serverStreamCall } from '../../streams/grpc/call.js';
import { cloneConnection } from '../core/clone.js';
import { Context, ContextKey } from '../core/context.js';
import { currentSegment } from '../core/path.js';
import { deepEqual } from '../tools/deepEqual.js';
import { linger } from '../tools/linger.js';
import { clientConnOf } from './dial.js';
import { metadataOf } from './metadata.js';

/** This hop's latest view of a connection, which passthrough events are applied to. */
export interface ConnectionView {
  current: Connection;
}

/** The selector a hop watches its next hop with: exactly its own segment, by id and name. */
export function ownSegmentSelector(conn: Connection): MonitorScopeSelector {
  const own = currentSegment(conn);
  return { pathSegments: [{ name: own?.name ?? '', id: own?.id ?? '', token: '', expires: undefined, metrics: {} }], networkServices: [] };
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

/**
 * How long a released stream's gRPC call is held, unheard, for the next hop to end it after its
 * DELETE (its Close answer and the stream's end travel apart, and the answer often comes first):
 * a burst of cancels would trip Node's HTTP/2 rapid-reset limit, which fails every call on the
 * channel. A next hop that never ends it (upstream Go) has it cancelled then.
 */
export const RELEASE_GRACE = 1000;

/**
 * Where a hop hears about its connection from the next hop, for tests: the events for `conn`, or
 * `undefined` when there is no next hop to watch.
 */
export type MonitorSource = (conn: Connection, ctx: Context) => Observable<ConnectionEvent> | undefined;

/**
 * The next hop's MonitorConnections stream for one connection, read by heal, upstreamRefresh and
 * monitor (each filters what it needs): opened by its first reader (so that reader hears the
 * initial state) on the scheduler's next turn, after the Request's answer went back; shared,
 * and kept open by the connection's metadata — not by its readers — until `release`, which the
 * metadata does once the connection's Close has returned; the next hop ends the stream itself
 * after its DELETE, and the gRPC call lingers `RELEASE_GRACE` ms for that. A reader that comes
 * after the stream ended hears the end.
 */
export class NextHopEvents {
  /** The connection as last Requested, with what the next hop told since. */
  readonly view: ConnectionView;
  readonly connections: Observable<Connection>;
  private readonly subject = new Subject<Connection>();
  private source: Subscription | undefined;

  constructor(
    /** The channel the stream runs on (undefined: an injected source). */
    readonly channel: unknown,
    events: Observable<ConnectionEvent>,
    conn: Connection,
  ) {
    this.view = { current: cloneConnection(conn) };
    this.connections = new Observable<Connection>((subscriber) => {
      const reader = this.subject.subscribe(subscriber);
      this.source ??= passthroughEvents(events, conn, this.view).subscribe(this.subject);
      return reader;
    });
  }

  /** Not ended, failed or released. */
  get live(): boolean {
    return this.source?.closed !== true;
  }

  /** Ends the stream without a word to its readers (their loops are replaced or stopped). */
  release(): void {
    this.source?.unsubscribe();
    this.source = Subscription.EMPTY;
  }
}

const sharedKey = new ContextKey<NextHopEvents>('nextHop.events');

/**
 * How an element reads the next hop's events for the connection `conn` was just Requested as,
 * kept in its metadata: one stream per channel to the next hop (set by `dial`) — a Request
 * through the same channel keeps it and follows the refreshed connection; another channel, or a
 * stream that ended, opens a new one. With a `source` (tests) each Request opens the element its
 * own. `undefined`: no next hop to watch.
 */
export function nextHopReader(
  scheduler: SchedulerLike,
  source?: MonitorSource,
  name = 'element',
): (ctx: Context, conn: Connection) => NextHopEvents | undefined {
  const key = source ? new ContextKey<NextHopEvents>(`${name}.monitor`) : sharedKey;
  return (ctx, conn) => {
    const meta = metadataOf(ctx);
    const held = meta.get(key);
    const channel = clientConnOf(ctx);
    if (source === undefined && held?.live && held.channel === channel) {
      held.view.current = cloneConnection(conn);
      return held;
    }
    meta.delete(key)?.release();
    const events = source
      ? source(conn, ctx)
      : // Opened once this turn is over: the Request's answer goes back first (the stream's initial
        // state transfer tells what happened meanwhile).
        // Released, the call lingers for the next hop to end it (RELEASE_GRACE).
        channel &&
        serverStreamCall(channel, MonitorConnectionService.monitorConnections, ownSegmentSelector(conn), Context.background, scheduler).pipe(
          linger(RELEASE_GRACE, scheduler),
          subscribeOn(scheduler),
        );
    if (events === undefined) return undefined;
    const fresh = new NextHopEvents(source ? undefined : channel, events, conn);
    meta.set(key, fresh);
    return fresh;
  };
}

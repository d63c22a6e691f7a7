import { EMPTY, Observable, Subject, defer } from 'rxjs';
import { filter, map, startWith, takeWhile } from 'rxjs/operators';
import {
  ConnectionEventType,
  type Connection,
  type ConnectionEvent,
  type MonitorScopeSelector,
  type PathSegment,
} from '../proto/gen/connection.js';
import { cloneConnection } from '../operators/core/clone.js';
import type { Context } from '../operators/core/context.js';

/** The MonitorConnections RPC as a function: what a guard (authorizeMonitor) wraps. */
export type MonitorConnections = (selector: MonitorScopeSelector, ctx: Context) => Observable<ConnectionEvent>;

type ConnectionMap = { [id: string]: Connection };

/** Does `sel` match `seg`? Empty selector fields are wildcards (name, id, token). */
function segmentMatches(sel: PathSegment, seg: PathSegment): boolean {
  return (sel.name === '' || sel.name === seg.name) && (sel.id === '' || sel.id === seg.id) && (sel.token === '' || sel.token === seg.token);
}

/**
 * Upstream MatchesMonitorScopeSelector: an empty selector matches everything; network services
 * must include the connection's; selector segments must occur as a contiguous run of its path.
 */
export function matchesSelector(conn: Connection | undefined, selector: MonitorScopeSelector): boolean {
  if (conn === undefined) return false;
  if (selector.networkServices.length > 0 && !selector.networkServices.includes(conn.networkService)) return false;
  const want = selector.pathSegments;
  if (want.length === 0) return true;
  const have = conn.path?.pathSegments ?? [];
  for (let start = 0; start + want.length <= have.length; start++) {
    if (want.every((sel, i) => segmentMatches(sel, have[start + i] as PathSegment))) return true;
  }
  return false;
}

function filterConnections(connections: Iterable<[string, Connection]>, selector: MonitorScopeSelector): ConnectionMap {
  const out: ConnectionMap = {};
  for (const [id, conn] of connections) if (matchesSelector(conn, selector)) out[id] = conn;
  return out;
}

/** The segment id a selector is pinned to (one segment, id set), as a hop watches its next hop. */
const pinnedId = (selector: MonitorScopeSelector): string | undefined =>
  selector.pathSegments.length === 1 && selector.pathSegments[0]?.id !== '' ? selector.pathSegments[0]?.id : undefined;

const segmentIds = (conn: Connection): Set<string> => new Set((conn.path?.pathSegments ?? []).map((seg) => seg.id));

/**
 * The MonitorConnection service of one hop: a store of its connections keyed by id plus the
 * stream of changes. Each subscriber gets INITIAL_STATE_TRANSFER (even when empty) and then the
 * UPDATE/DELETE events that match its selector; incoming initial transfers are never forwarded.
 *
 * A hop's previous hop watches each connection through its own stream pinned to one segment id,
 * so a busy hop has a stream per connection. Pinned streams hear only the events of the
 * connections whose path holds their id (found through an index by segment id): an event costs
 * the streams it concerns, not one filter per stream of the hop.
 */
export class ConnectionMonitor {
  private readonly connections = new Map<string, Connection>();
  /** Connection ids by the ids of their path segments. */
  private readonly bySegment = new Map<string, Set<string>>();
  /** Every event, for the streams not pinned to a segment. */
  private readonly events = new Subject<ConnectionEvent>();
  /** The events of the connections holding a segment id, for the streams pinned to it. */
  private readonly pinned = new Map<string, Subject<ConnectionEvent>>();
  /** Set by complete(): streams opened later hear their initial transfer and end. */
  private completed = false;

  /** Records and broadcasts an UPDATE or DELETE. */
  send(event: ConnectionEvent): void {
    if (event.type === ConnectionEventType.INITIAL_STATE_TRANSFER) return;
    const concerned = new Map<Subject<ConnectionEvent>, ConnectionMap>();
    for (const [id, conn] of Object.entries(event.connections)) {
      const segments = segmentIds(conn);
      this.unindex(id);
      if (event.type === ConnectionEventType.DELETE) this.connections.delete(id);
      else this.index(id, conn, segments);
      for (const segment of segments) {
        const watchers = this.pinned.get(segment);
        if (watchers === undefined) continue;
        const connections = concerned.get(watchers) ?? {};
        connections[id] = conn;
        concerned.set(watchers, connections);
      }
    }
    this.events.next(event);
    for (const [watchers, connections] of concerned) watchers.next({ type: event.type, connections });
  }

  update(conn: Connection): void {
    this.send({ type: ConnectionEventType.UPDATE, connections: { [conn.id]: cloneConnection(conn) } });
  }

  delete(conn: Connection): void {
    this.send({ type: ConnectionEventType.DELETE, connections: { [conn.id]: cloneConnection(conn) } });
  }

  /** The last published state of a connection. */
  get(id: string): Connection | undefined {
    return this.connections.get(id);
  }

  /** Number of connections known (leak checks). */
  get size(): number {
    return this.connections.size;
  }

  /** Number of segment ids that pinned streams watch (leak checks). */
  get pinnedWatches(): number {
    return this.pinned.size;
  }

  /**
   * The MonitorConnections RPC. A selector pinned to one segment id (how a previous hop or a
   * client watches its own connection) ends after that connection's DELETE: the watcher has
   * nothing left to hear, and ending here spares it a cancel. That matters because Node's HTTP/2
   * closes a whole session after ~1000 quick RST_STREAMs (rapid-reset protection), and every
   * hop would otherwise cancel one stream per closed connection.
   */
  monitorConnections(selector: MonitorScopeSelector): Observable<ConnectionEvent> {
    const id = pinnedId(selector);
    if (id === undefined) return this.watch(selector, this.events, () => this.connections);
    const known = (): [string, Connection][] =>
      [...(this.bySegment.get(id) ?? [])].flatMap((c): [string, Connection][] => {
        const conn = this.connections.get(c);
        return conn === undefined ? [] : [[c, conn]];
      });
    return new Observable<ConnectionEvent>((subscriber) => {
      const events = this.pinned.get(id) ?? new Subject<ConnectionEvent>();
      this.pinned.set(id, events);
      const watching = this.watch(selector, this.completed ? EMPTY : events, known)
        .pipe(takeWhile((e) => e.type !== ConnectionEventType.DELETE, true))
        .subscribe(subscriber);
      return () => {
        watching.unsubscribe();
        if (!events.observed) this.pinned.delete(id);
      };
    });
  }

  /** Ends every subscriber's stream (server stop). */
  complete(): void {
    this.completed = true;
    this.events.complete();
    for (const watchers of this.pinned.values()) watchers.complete();
  }

  /** The initial transfer from `known`, then the events of `events` that match `selector`. */
  private watch(selector: MonitorScopeSelector, events: Observable<ConnectionEvent>, known: () => Iterable<[string, Connection]>): Observable<ConnectionEvent> {
    return defer(() =>
      events.pipe(
        map((e): ConnectionEvent => ({ type: e.type, connections: filterConnections(Object.entries(e.connections), selector) })),
        filter((e) => Object.keys(e.connections).length > 0),
        startWith({ type: ConnectionEventType.INITIAL_STATE_TRANSFER, connections: filterConnections(known(), selector) }),
      ),
    );
  }

  private index(id: string, conn: Connection, segments: Set<string>): void {
    this.connections.set(id, conn);
    for (const segment of segments) {
      const ids = this.bySegment.get(segment) ?? new Set<string>();
      ids.add(id);
      this.bySegment.set(segment, ids);
    }
  }

  private unindex(id: string): void {
    const previous = this.connections.get(id);
    if (previous === undefined) return;
    for (const segment of segmentIds(previous)) {
      const ids = this.bySegment.get(segment);
      ids?.delete(id);
      if (ids?.size === 0) this.bySegment.delete(segment);
    }
  }
}

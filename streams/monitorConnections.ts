import { Observable, Subject } from 'rxjs';
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

function filterConnections(connections: ConnectionMap, selector: MonitorScopeSelector): ConnectionMap {
  const out: ConnectionMap = {};
  for (const [id, conn] of Object.entries(connections)) if (matchesSelector(conn, selector)) out[id] = conn;
  return out;
}

/**
 * The MonitorConnection service of one hop: a store of its connections keyed by id plus the
 * stream of changes. Each subscriber gets INITIAL_STATE_TRANSFER (even when empty) and then the
 * UPDATE/DELETE events that match its selector; incoming initial transfers are never forwarded.
 */
export class ConnectionMonitor {
  private readonly connections = new Map<string, Connection>();
  private readonly events = new Subject<ConnectionEvent>();

  /** Records and broadcasts an UPDATE or DELETE. */
  send(event: ConnectionEvent): void {
    if (event.type === ConnectionEventType.INITIAL_STATE_TRANSFER) return;
    for (const [id, conn] of Object.entries(event.connections)) {
      if (event.type === ConnectionEventType.DELETE) this.connections.delete(id);
      else this.connections.set(id, conn);
    }
    this.events.next(event);
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

  /**
   * The MonitorConnections RPC. A selector pinned to one segment id (how a previous hop or a
   * client watches its own connection) ends after that connection's DELETE: the watcher has
   * nothing left to hear, and ending here spares it a cancel. That matters because Node's HTTP/2
   * closes a whole session after ~1000 quick RST_STREAMs (rapid-reset protection), and every
   * hop would otherwise cancel one stream per closed connection.
   */
  monitorConnections(selector: MonitorScopeSelector): Observable<ConnectionEvent> {
    const pinned = selector.pathSegments.length === 1 && selector.pathSegments[0]?.id !== '';
    return new Observable<ConnectionEvent>((subscriber) => {
      const initial: ConnectionEvent = {
        type: ConnectionEventType.INITIAL_STATE_TRANSFER,
        connections: filterConnections(Object.fromEntries(this.connections), selector),
      };
      return this.events
        .pipe(
          map((e): ConnectionEvent => ({ type: e.type, connections: filterConnections(e.connections, selector) })),
          filter((e) => Object.keys(e.connections).length > 0),
          startWith(initial),
          takeWhile((e) => !(pinned && e.type === ConnectionEventType.DELETE), true),
        )
        .subscribe(subscriber);
    });
  }

  /** Ends every subscriber's stream (server stop). */
  complete(): void {
    this.events.complete();
  }
}

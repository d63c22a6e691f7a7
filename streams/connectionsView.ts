import { asyncScheduler, concat, defer, merge, of, throwError, timer, type Observable, type SchedulerLike } from 'rxjs';
import { catchError, map, retry, scan } from 'rxjs/operators';
import { ConnectionEventType, State, type Connection, type ConnectionEvent } from '../proto/gen/connection.js';
import { messageOf } from '../operators/core/errors.js';

/** One path segment as the view shows it: its name and its counters (bytes) with their rates (bytes/s). */
export interface HopView {
  readonly name: string;
  /** e.g. `client_rx_bytes` → 1200 (from the segment's metrics). */
  readonly counters: Readonly<Record<string, number>>;
  /** The same keys: growth per second over the last half second or more (none yet at first). */
  readonly rates: Readonly<Record<string, number>>;
}

export interface ConnectionView {
  /** The client's id of it (the first path segment's): one connection, whichever nsmgr reports it. */
  readonly id: string;
  readonly networkService: string;
  readonly state: string;
  readonly path: readonly string[];
  /** Each path segment's interfaces (a forwarder's `client_interface`/`server_interface` metrics), aligned with `path`. */
  readonly pathInterfaces: readonly { readonly client?: string; readonly server?: string }[];
  readonly srcIps: readonly string[];
  readonly dstIps: readonly string[];
  /** The client's and the endpoint's interface names, where a forwarder said them. */
  readonly interfaces: readonly string[];
  readonly hops: readonly HopView[];
  /** What happened to it while watched (path changes: heals; state changes), newest last, at most 5. */
  readonly events: readonly { readonly at: number; readonly what: string }[];
  readonly updatedAt: number;
}

/** The mesh as the watched nsmgrs report it. */
export interface MeshView {
  readonly at: number;
  readonly sources: readonly { readonly url: string; readonly up: boolean; readonly error?: string }[];
  readonly connections: readonly ConnectionView[];
}

/** What a source said: an event, or that its stream failed (it is called again). */
type Note = { readonly url: string; readonly event: ConnectionEvent } | { readonly url: string; readonly error: string };

interface Watched {
  readonly view: MeshView;
  /** Each source's connections by id, as its last events left them. */
  readonly bySource: ReadonlyMap<string, ReadonlyMap<string, Connection>>;
  /** The last views of connections that went (a reselecting heal Closes, then Requests again): a return continues them. */
  readonly gone: ReadonlyMap<string, ConnectionView>;
}

/** Connections that went and are remembered, at most (the oldest forgotten first). */
const GONE_KEPT = 256;

const EVENTS_KEPT = 5;
const counterKey = /_(bytes|packets|dropped)$/;

/** Numbers among a segment's metrics (`*_bytes`, `*_packets`, `*_dropped`). */
const countersOf = (metrics: Readonly<Record<string, string>>): Record<string, number> =>
  Object.fromEntries(Object.entries(metrics).filter(([k, v]) => counterKey.test(k) && /^\d+$/.test(v)).map(([k, v]) => [k, Number(v)]));

/** The fullest report of each connection: the one with the longest path. */
function merged(bySource: ReadonlyMap<string, ReadonlyMap<string, Connection>>): Map<string, Connection> {
  const out = new Map<string, Connection>();
  for (const connections of bySource.values()) {
    for (const conn of connections.values()) {
      const id = conn.path?.pathSegments[0]?.id ?? conn.id;
      const known = out.get(id);
      if (known === undefined || (conn.path?.pathSegments.length ?? 0) > (known.path?.pathSegments.length ?? 0)) out.set(id, conn);
    }
  }
  return out;
}

/** Counters as they were when a hop's rates were last computed. */
type Bases = Map<string, { readonly at: number; readonly counters: Readonly<Record<string, number>> }>;

/** Rates are growth over at least this long, ms: one refresh can update a connection twice in a moment. */
const RATE_MIN_MS = 500;

/** A connection's view now, from its last one (its rates' bases kept in `bases`, events). */
function viewOf(id: string, conn: Connection, before: ConnectionView | undefined, at: number, bases: Bases): ConnectionView {
  const segments = conn.path?.pathSegments ?? [];
  const path = segments.map((s) => s.name);
  const state = State[conn.state] ?? String(conn.state);
  const hops = segments
    .map((s) => ({ name: s.name, counters: countersOf(s.metrics) }))
    .filter((h) => Object.keys(h.counters).length > 0)
    .map((h) => {
      const key = `${id}/${h.name}`;
      const base = bases.get(key);
      const last = before?.hops.find((b) => b.name === h.name)?.rates;
      if (base !== undefined && at - base.at < RATE_MIN_MS) return { ...h, rates: last ?? {} };
      bases.set(key, { at, counters: h.counters });
      if (base === undefined) return { ...h, rates: {} };
      const seconds = (at - base.at) / 1000;
      // A counter that fell (its interface made anew by a heal) has no rate until its next sample.
      return { ...h, rates: Object.fromEntries(Object.entries(h.counters).map(([k, v]) => [k, Math.max(0, (v - (base.counters[k] ?? v)) / seconds)])) };
    });
  const what = [
    ...(before && before.path.join(' ') !== path.join(' ') ? [`path now ${path.join(' → ')} (was ${before.path.join(' → ')})`] : []),
    ...(before && before.state !== state ? [`${before.state} → ${state}`] : []),
  ];
  const interfaces = [...new Set(segments.flatMap((s) => [s.metrics['server_interface'], s.metrics['client_interface']]).filter((n): n is string => n !== undefined && n !== ''))];
  return {
    id,
    networkService: conn.networkService,
    state,
    path,
    pathInterfaces: segments.map((s) => ({ ...(s.metrics['client_interface'] ? { client: s.metrics['client_interface'] } : {}), ...(s.metrics['server_interface'] ? { server: s.metrics['server_interface'] } : {}) })),
    srcIps: conn.context?.ipContext?.srcIpAddrs ?? [],
    dstIps: conn.context?.ipContext?.dstIpAddrs ?? [],
    interfaces,
    hops,
    events: [...(before?.events ?? []), ...what.map((w) => ({ at, what: w }))].slice(-EVENTS_KEPT),
    updatedAt: at,
  };
}

function reduce(state: Watched, note: Note, at: number, urls: readonly string[], bases: Bases): Watched {
  const bySource = new Map(state.bySource);
  const sources = new Map(state.view.sources.map((s) => [s.url, s]));
  if ('error' in note) {
    bySource.delete(note.url);
    sources.set(note.url, { url: note.url, up: false, error: note.error });
  } else {
    const { type, connections } = note.event;
    const mine = new Map(type === ConnectionEventType.INITIAL_STATE_TRANSFER ? [] : (bySource.get(note.url) ?? []));
    for (const [id, conn] of Object.entries(connections)) {
      if (type === ConnectionEventType.DELETE) mine.delete(id);
      else mine.set(id, conn);
    }
    bySource.set(note.url, mine);
    sources.set(note.url, { url: note.url, up: true });
  }
  const previous = new Map(state.view.connections.map((c) => [c.id, c]));
  const gone = new Map(state.gone);
  const connections = [...merged(bySource)].map(([id, conn]) => {
    const before = previous.get(id);
    // Unchanged connections keep their view (and their rates' time base).
    if (before !== undefined && !touches(note, id)) return before;
    const back = gone.get(id);
    gone.delete(id);
    return before === undefined && back !== undefined ? withEvent(viewOf(id, conn, back, at, bases), at, 'requested again') : viewOf(id, conn, before, at, bases);
  });
  for (const [id, view] of previous) if (!connections.some((c) => c.id === id)) gone.set(id, view);
  for (const id of [...gone.keys()].slice(0, Math.max(0, gone.size - GONE_KEPT))) gone.delete(id);
  for (const key of bases.keys()) if (!connections.some((c) => key.startsWith(`${c.id}/`))) bases.delete(key);
  return { bySource, gone, view: { at, sources: urls.map((url) => sources.get(url) ?? { url, up: false }), connections: connections.sort((a, b) => a.id.localeCompare(b.id)) } };
}

/** `view` with `what` noted first among what happened at `at`. */
function withEvent(view: ConnectionView, at: number, what: string): ConnectionView {
  const kept = view.events.filter((e) => e.at !== at);
  return { ...view, events: [...kept, { at, what }, ...view.events.filter((e) => e.at === at)].slice(-EVENTS_KEPT) };
}

/** Whether `note` says something about the connection whose first id is `id`. */
const touches = (note: Note, id: string): boolean =>
  'error' in note || note.event.type === ConnectionEventType.INITIAL_STATE_TRANSFER || Object.values(note.event.connections).some((c) => (c.path?.pathSegments[0]?.id ?? c.id) === id);

/**
 * The live view of a mesh for people (`nsm-rx connections`): every connection the nsmgrs at
 * `urls` report through MonitorConnections (`monitor(url)` calls it; a failed or ended stream
 * is called again after `retryMs`), one entry per connection however many nsmgrs report it,
 * with per-hop byte rates from the path's metrics and what changed (heals) while watched.
 *
 * ```
 * monitor(a)  -I(c1)---U(c1, healed path)----#-----I()
 * view        -v1------v2(event: path now …)--v3(a down)--v4(a up, no c1)
 * ```
 */
export function connectionsView(urls: readonly string[], monitor: (url: string) => Observable<ConnectionEvent>, options: { scheduler?: SchedulerLike; retryMs?: number } = {}): Observable<MeshView> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const notes = merge(
    ...urls.map((url) =>
      defer(() => concat(monitor(url), throwError(() => new Error('the monitor stream ended')))).pipe(
        map((event): Note => ({ url, event })),
        catchError((e: unknown) => concat(of<Note>({ url, error: messageOf(e) }), throwError(() => e))),
        retry({ delay: () => timer(options.retryMs ?? 1000, scheduler) }),
      ),
    ),
  );
  const initial: Watched = { bySource: new Map(), gone: new Map(), view: { at: 0, sources: urls.map((url) => ({ url, up: false })), connections: [] } };
  return defer(() => {
    const bases: Bases = new Map();
    return notes.pipe(
      scan((state, note) => reduce(state, note, scheduler.now(), urls, bases), initial),
      map((s) => s.view),
    );
  });
}

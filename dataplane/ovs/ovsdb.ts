import { connect as netConnect, type Socket } from 'node:net';
import { asyncScheduler, Observable, Subject, timer, type SchedulerLike, type Subscription } from 'rxjs';
import { JsonFrames } from './jsonFrames.js';

/** An OVSDB value as on the wire (RFC 7047 §5.1): atoms, `["uuid", …]`, `["set", […]]`, `["map", [[k, v], …]]`. */
export type OvsdbValue = string | number | boolean | readonly unknown[];
export type OvsdbRow = Readonly<Record<string, OvsdbValue>>;
/** One operation of a transaction (insert, select, update, mutate, delete, wait, comment, …). */
export type OvsdbOperation = Readonly<Record<string, unknown>> & { readonly op: string };
/** Row changes of one update: table → row uuid → old and/or new row (monitor's `<table-updates>`). */
export type TableUpdates = Readonly<Record<string, Readonly<Record<string, { readonly old?: OvsdbRow; readonly new?: OvsdbRow }>>>>;

/** What ovsdb-server answered instead of a result, with its own error text (and details). */
export class OvsdbError extends Error {
  constructor(
    readonly error: string,
    readonly details: string | undefined,
    context: string,
  ) {
    super(`${context}: ${error}${details ? ` (${details})` : ''}`);
    this.name = 'OvsdbError';
  }
}

/** The connection ended (or could not be made): every call in flight fails with it. */
export class OvsdbConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OvsdbConnectionError';
  }
}

export interface OvsdbOptions {
  /** Send `echo` after this much silence and drop the connection when it goes unanswered as long (0: never). */
  readonly echoInterval?: number;
  readonly scheduler?: SchedulerLike;
}

interface Pending {
  readonly resolve: (result: unknown) => void;
  readonly reject: (e: Error) => void;
  readonly what: string;
}

/** `unix:/path` or `tcp:host:port` (ovs-vsctl's --db forms; `punix:`/`ptcp:` are servers') → where to connect. */
function target(url: string): { path: string } | { host: string; port: number } {
  if (url.startsWith('unix:')) return { path: url.slice('unix:'.length) };
  const tcp = /^tcp:(.+):(\d+)$/.exec(url);
  if (tcp) return { host: (tcp[1] ?? '').replace(/^\[|\]$/g, ''), port: Number(tcp[2]) };
  throw new OvsdbConnectionError(`OVSDB address "${url}": expected unix:<path> or tcp:<host>:<port>`);
}

/**
 * A client of one OVSDB connection (RFC 7047 JSON-RPC 1.0 over a unix or TCP socket): calls are
 * matched to answers by id, the server's `echo` is answered, `update` notifications go to their
 * monitor, and with `echoInterval` a silent server is probed and the connection dropped when it
 * does not answer. When the connection ends every call in flight fails and `closed` settles;
 * a new connection is the caller's (see ovsdbTables for a view that reconnects).
 */
export class OvsdbClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly monitors = new Map<string, Subject<TableUpdates>>();
  private ended: Error | undefined;
  private readonly probe: Subscription | undefined;
  private heard = true;
  /** Resolves with why the connection ended. */
  readonly closed: Promise<Error>;

  private constructor(
    private readonly socket: Socket,
    readonly url: string,
    options: OvsdbOptions,
  ) {
    let ended!: (e: Error) => void;
    this.closed = new Promise((resolve) => (ended = resolve));
    const frames = new JsonFrames((text) => this.receive(text));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.heard = true;
      try {
        frames.push(chunk);
      } catch (e) {
        socket.destroy(e as Error);
      }
    });
    socket.on('error', () => undefined); // 'close' follows with the reason kept below
    socket.on('close', () => {
      const why = this.ended ?? new OvsdbConnectionError(`OVSDB ${url}: connection closed`);
      this.ended = why;
      this.probe?.unsubscribe();
      for (const p of this.pending.values()) p.reject(why);
      this.pending.clear();
      for (const m of this.monitors.values()) m.error(why);
      this.monitors.clear();
      ended(why);
    });
    const interval = options.echoInterval ?? 0;
    if (interval > 0) {
      // Each tick: silent since the last one → probe; a probe unanswered a whole interval → drop.
      this.probe = timer(interval, interval, options.scheduler ?? asyncScheduler).subscribe(() => {
        if (this.heard) {
          this.heard = false;
          return;
        }
        if (this.pending.size > 0 && [...this.pending.values()].some((p) => p.what === 'echo')) return this.drop(`no answer to echo within ${interval} ms`);
        this.call('echo', ['nsm-rx']).catch(() => undefined);
      });
    }
  }

  /** Connects to `url` (`unix:<path>` or `tcp:<host>:<port>`). */
  static connect(url: string, options: OvsdbOptions = {}): Promise<OvsdbClient> {
    return new Promise((resolve, reject) => {
      const where = target(url);
      const socket = 'path' in where ? netConnect(where.path) : netConnect(where.port, where.host);
      socket.once('error', (e) => reject(new OvsdbConnectionError(`cannot connect to OVSDB ${url}: ${e.message}`)));
      socket.once('connect', () => resolve(new OvsdbClient(socket, url, options)));
    });
  }

  private drop(why: string): void {
    this.ended = new OvsdbConnectionError(`OVSDB ${this.url}: ${why}`);
    this.socket.destroy();
  }

  private send(message: unknown): void {
    this.socket.write(JSON.stringify(message));
  }

  private receive(text: string): void {
    const msg = JSON.parse(text) as { id?: unknown; method?: string; params?: unknown[]; result?: unknown; error?: unknown };
    if (msg.method === 'echo') return this.send({ id: msg.id, result: msg.params ?? [], error: null });
    if (msg.method === 'update' && Array.isArray(msg.params)) {
      this.monitors.get(JSON.stringify(msg.params[0]))?.next((msg.params[1] ?? {}) as TableUpdates);
      return;
    }
    if (typeof msg.id !== 'number') return; // other notifications (locked, stolen, …) are not used
    const p = this.pending.get(msg.id);
    if (p === undefined) return;
    this.pending.delete(msg.id);
    if (msg.error !== null && msg.error !== undefined) {
      const e = msg.error as { error?: string; details?: string } | string;
      p.reject(typeof e === 'string' ? new OvsdbError(e, undefined, p.what) : new OvsdbError(e.error ?? JSON.stringify(e), e.details, p.what));
    } else p.resolve(msg.result);
  }

  /** One JSON-RPC call; rejects with the server's error (OvsdbError) or the connection's end. */
  call<T>(method: string, params: readonly unknown[]): Promise<T> {
    if (this.ended) return Promise.reject(this.ended);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject, what: method });
      this.send({ method, params, id });
    });
  }

  listDbs(): Promise<string[]> {
    return this.call('list_dbs', []);
  }

  getSchema(db: string): Promise<{ name: string; version: string; tables: Record<string, unknown> }> {
    return this.call('get_schema', [db]);
  }

  /**
   * A transaction (all or nothing): the results, one per operation. When one operation fails,
   * ovsdb-server commits nothing and this rejects with its error text, naming the operation.
   */
  async transact(db: string, operations: readonly OvsdbOperation[]): Promise<Record<string, unknown>[]> {
    const results = await this.call<(Record<string, unknown> | null)[]>('transact', [db, ...operations]);
    results.forEach((r, i) => {
      if (r && typeof r['error'] === 'string') {
        const op = operations[i];
        throw new OvsdbError(r['error'], typeof r['details'] === 'string' ? r['details'] : undefined, `transact ${db}: operation ${i} (${op?.op ?? 'commit'}${op && 'table' in op ? ` ${String(op['table'])}` : ''})`);
      }
    });
    return results.map((r) => r ?? {});
  }

  /**
   * `monitor` (RFC 7047 §4.1.5) of `tables` (table → the columns to watch; empty: all) as a stream
   * of table updates: the current rows first (as `new`), then every change. Unsubscribing cancels
   * the monitor; the connection's end is the stream's error.
   */
  monitor(db: string, tables: Readonly<Record<string, readonly string[]>>): Observable<TableUpdates> {
    return new Observable<TableUpdates>((subscriber) => {
      const monitorId = `nsm-rx-${this.nextId}`;
      const key = JSON.stringify(monitorId);
      const updates = new Subject<TableUpdates>();
      this.monitors.set(key, updates);
      const sub = updates.subscribe(subscriber);
      const requests = Object.fromEntries(Object.entries(tables).map(([t, columns]) => [t, columns.length > 0 ? { columns } : {}]));
      this.call<TableUpdates>('monitor', [db, monitorId, requests]).then(
        (initial) => subscriber.next(initial),
        (e: unknown) => subscriber.error(e),
      );
      return () => {
        sub.unsubscribe();
        this.monitors.delete(key);
        if (!this.ended) this.call('monitor_cancel', [monitorId]).catch(() => undefined);
      };
    });
  }

  /** Ends the connection; calls in flight fail. */
  close(): Promise<Error> {
    if (!this.ended) this.drop('closed by the client');
    return this.closed;
  }
}

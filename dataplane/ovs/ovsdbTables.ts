import { asyncScheduler, defer, from, timer, type Observable, type SchedulerLike } from 'rxjs';
import { retry, scan, switchMap } from 'rxjs/operators';
import type { OvsdbClient, OvsdbRow, TableUpdates } from './ovsdb.js';

/** Rows by table, then by uuid. */
export type TableRows = ReadonlyMap<string, ReadonlyMap<string, OvsdbRow>>;

/** The rows after one monitor update: a `new` row replaces, an `old` alone deletes. */
export function applyTableUpdates(state: TableRows, updates: TableUpdates): TableRows {
  const next = new Map(state);
  for (const [table, rows] of Object.entries(updates)) {
    const current = new Map(next.get(table) ?? []);
    for (const [id, change] of Object.entries(rows)) {
      if (change.new) current.set(id, change.new);
      else current.delete(id);
    }
    next.set(table, current);
  }
  return next;
}

/**
 * The rows of `tables` in `db`, kept current from an OVSDB monitor, as a stream of whole views.
 * When the connection ends (ovsdb-server restarted, an unanswered echo) it connects again after
 * `retryMs` and starts over from the server's whole state, so nothing missed meanwhile stays
 * wrong (a full resync). Unsubscribing cancels the monitor and closes the connection.
 *
 * ```
 * server    -a--b--(restart)------c--
 * views     -{a}-{a,b}-----------{a,b}-{a,b,c}-
 * ```
 */
export function ovsdbTables(
  connect: () => Promise<OvsdbClient>,
  db: string,
  tables: Readonly<Record<string, readonly string[]>>,
  options: { retryMs?: number; scheduler?: SchedulerLike } = {},
): Observable<TableRows> {
  const scheduler = options.scheduler ?? asyncScheduler;
  return defer(() => from(connect())).pipe(
    switchMap((client) => client.monitor(db, tables).pipe(scan(applyTableUpdates, new Map() as TableRows))),
    retry({ delay: () => timer(options.retryMs ?? 500, scheduler) }),
  );
}

import { asyncScheduler, concat, defer, of, timer, type Observable, type SchedulerLike } from 'rxjs';
import { concatMap, distinctUntilChanged, reduce, retry, scan } from 'rxjs/operators';
import { deepEqual } from '../operators/tools/deepEqual.js';
import type { Context } from '../operators/core/context.js';
import { watchReopenedByCallerKey, type RegistryHandler } from '../operators/core/registry.js';

/** A registry Find response of either registry, reduced to what a live view needs. */
export interface Found<T> {
  readonly item: T;
  readonly deleted: boolean;
}

export interface LiveFindOptions {
  scheduler?: SchedulerLike;
  /** Pause before finding again after the stream broke (registry restart), ms. */
  retryInterval?: number;
}

/**
 * The live set of registry entries matching a query, as a stream of consistent views
 * (name → item). It first reads the current matches to the end (watch=false) and emits them as
 * one view, then follows a watch; when the stream breaks (the registry restarted) it finds again
 * after `retryInterval` and emits a fresh whole view, so entries that vanished meanwhile vanish
 * from the view too. Never completes on its own.
 *
 * ```
 * registry    --a-b--(restart)--------a--c----
 * views       --{a,b}--{a,b,d}----X--{a,c}----
 * ```
 */
export function liveFind<T extends { name: string }, Q, R>(
  find: RegistryHandler<T, Q, R>['find'],
  query: (watch: boolean) => Q,
  read: (response: R) => Found<T> | undefined,
  ctx: Context,
  options: LiveFindOptions = {},
): Observable<ReadonlyMap<string, T>> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const interval = options.retryInterval ?? 200;
  /** The view after one response; the same object when nothing changed. */
  const apply = (view: ReadonlyMap<string, T>, found: Found<T> | undefined): ReadonlyMap<string, T> => {
    if (found === undefined) return view;
    const name = found.item.name;
    if (found.deleted ? !view.has(name) : deepEqual(view.get(name), found.item)) return view;
    const next = new Map(view);
    if (found.deleted) next.delete(name);
    else next.set(name, found.item);
    return next;
  };
  const empty: ReadonlyMap<string, T> = new Map();
  return defer(() =>
    find(query(false), ctx).pipe(
      reduce((view, r) => apply(view, read(r)), empty),
      // The watch repeats the current matches, then follows changes, on top of the snapshot.
      concatMap((view) => concat(of(view), find(query(true), ctx.with(watchReopenedByCallerKey, true)).pipe(scan((v, r) => apply(v, read(r)), view)))),
    ),
  ).pipe(
    retry({ delay: () => timer(interval, scheduler) }),
    distinctUntilChanged(),
  );
}

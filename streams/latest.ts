import { EMPTY, ReplaySubject, type Observable } from 'rxjs';
import { catchError, defaultIfEmpty, shareReplay, takeUntil } from 'rxjs/operators';

/** The latest value of a watched source, and a way to stop following it. */
export interface Latest<T> {
  /** Replays the latest value (or `empty`) to every subscriber; the first subscription starts following the source. */
  readonly latest$: Observable<T>;
  /** Stops following the source; readers then get the last value it gave, or `empty`. */
  dispose(): void;
}

/**
 * `latestOf(source$, empty)`: what elements fed by a watched file need (excluded prefixes, policy
 * routes) — a reader takes the latest value with `take(1)`, waiting for the first one; a source
 * that ends or fails before giving any, or is disposed first, reads as `empty`.
 *
 * ```
 * source$   ---a----b----|
 * latest$   ---a----b----|     (a late reader gets b)
 * source$   ---#
 * latest$   ---(e|)
 * ```
 */
export function latestOf<T>(source$: Observable<T>, empty: T): Latest<T> {
  const stopped$ = new ReplaySubject<void>(1);
  const latest$ = source$.pipe(
    catchError(() => EMPTY),
    takeUntil(stopped$),
    defaultIfEmpty(empty),
    shareReplay({ bufferSize: 1, refCount: false }),
  );
  return { latest$, dispose: () => stopped$.next() };
}

import { catchError, defer, exhaustMap, filter, ignoreElements, merge, of, ReplaySubject, share, tap, timer, type BehaviorSubject, type Observable, type SchedulerLike } from 'rxjs';

/**
 * `sampled(latest, read, interval, scheduler)`: the latest value, then every `interval` a fresh
 * `read()` while anyone is subscribed. One timer however many subscribe; it stops when the last
 * one leaves (a later subscriber gets the latest at once). A read that fails or finds nothing
 * keeps the last value; what is read becomes `latest`, and so does what others put there.
 *
 * ```
 * latest   a────────────────────────d──
 * read                ─b|      ─#
 * sampled  a──(10ms)───b─(10ms)──────d──   (interval 10ms; the failed read keeps b)
 * ```
 */
export function sampled<T>(latest: BehaviorSubject<T | undefined>, read: () => Observable<T | undefined>, interval: number, scheduler: SchedulerLike): Observable<T> {
  const samples = timer(interval, interval, scheduler).pipe(
    exhaustMap(() => defer(read).pipe(catchError(() => of(undefined)))),
    tap((value) => value !== undefined && latest.next(value)),
    ignoreElements(),
  );
  return merge(latest, samples).pipe(
    filter((value): value is T => value !== undefined),
    share({ connector: () => new ReplaySubject<T>(1) }),
  );
}

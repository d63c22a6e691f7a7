import { defer, type Observable } from 'rxjs';
import { takeUntil } from 'rxjs/operators';
import type { RegistryElement } from '../core/registry.js';

/**
 * `untilStopped(stopped$)` (registry client, after begin): every call through it — the caller's
 * and the refresh and heal events begin runs in the background — ends, without a value, once
 * `stopped$` emits. The owner that dies (a node stopping) takes its in-flight retries with it:
 * none goes on dialing a registry, or borrowing channels from a pool that was closed.
 *
 * ```
 * stopped$   -------s
 * register   --(retrying: X-200ms-X-200ms-…)
 * result     -------|
 * ```
 */
export function untilStopped<T, Q, R>(stopped$: Observable<unknown>): RegistryElement<T, Q, R> {
  const cut = <X>(call: () => Observable<X>): Observable<X> => defer(call).pipe(takeUntil(stopped$));
  return {
    register: (item, ctx, next) => cut(() => next.register(item, ctx)),
    find: (query, ctx, next) => cut(() => next.find(query, ctx)),
    unregister: (item, ctx, next) => cut(() => next.unregister(item, ctx)),
  };
}

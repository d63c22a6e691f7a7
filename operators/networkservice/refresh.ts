import { asyncScheduler, EMPTY, timer, type SchedulerLike } from 'rxjs';
import { retry, switchMap, tap } from 'rxjs/operators';
import type { Connection } from '../../proto/gen/connection.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { timestampToMs } from '../core/path.js';
import { eventFactoryOf } from './begin/eventFactory.js';

/** Pause between failed refreshes (upstream: 200 ms). */
export const refreshRetryInterval = 200;

/** The largest share of the remaining lifetime a refreshing client waits before re-Requesting. */
export const refreshShareAtMost = 0.4;

/**
 * When to refresh: a share of the shortest remaining segment lifetime. One segment: 1/3; else
 * 0.2 + 0.2·index/len (< 0.4), so hops nearer the client refresh sooner and fewer refreshes overlap.
 * Segments without `expires` do not count; none at all → undefined (never refresh).
 */
export function refreshAfter(conn: Connection, now: number): number | undefined {
  const path = conn.path;
  let min: number | undefined;
  for (const s of path?.pathSegments ?? []) {
    if (s.expires === undefined) continue;
    const left = timestampToMs(s.expires) - now;
    if (min === undefined || left < min) min = left;
  }
  if (min === undefined || path === undefined) return undefined;
  if (min <= 0) return 0;
  const n = path.pathSegments.length;
  const scale = n > 1 ? 0.2 + ((refreshShareAtMost - 0.2) * path.index) / n : 1 / 3;
  return min * scale;
}

/**
 * `refresh` (client side): re-Requests the connection through begin before its tokens expire.
 * Failed refreshes are retried every 200 ms; each successful Request (the refresh's own too)
 * contributes the next loop to begin, which drops it on Close.
 *
 * ```
 * request  -R----------------------------------
 * refresh  ----- 0.2·lifetime --R(fail)-200ms-R-
 * ```
 */
export function refresh(options: { scheduler?: SchedulerLike } = {}): NetworkServiceElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const loopKey = Symbol('refresh');
  return {
    request: (request, ctx, next) =>
      next.request(request, ctx).pipe(
        tap((conn) => {
          const factory = eventFactoryOf(ctx);
          const delay = refreshAfter(conn, scheduler.now());
          factory?.loop(
            loopKey,
            delay === undefined
              ? EMPTY
              : timer(delay, scheduler).pipe(switchMap(() => factory.request().pipe(retry({ delay: () => timer(refreshRetryInterval, scheduler) })))),
          );
        }),
      ),
  };
}

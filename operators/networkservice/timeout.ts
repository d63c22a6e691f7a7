import { asyncScheduler, concat, defer, of, Subscription, throwError, type SchedulerLike } from 'rxjs';
import { catchError, concatMap, ignoreElements } from 'rxjs/operators';
import { onSettle } from '../tools/onSettle.js';
import { ContextKey } from '../core/context.js';
import { invalidArgument } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { prevSegment, timestampToMs } from '../core/path.js';
import { eventFactoryOf } from './begin/eventFactory.js';
import { metadataOf } from './metadata.js';

/**
 * `timeout` (server side): a hop that stops hearing from its client closes the connection itself.
 * After each Request it arms a Close (through begin) at the previous segment's `expires` minus the
 * request's time budget; a refresh re-arms it, a Close (even a failed one: begin forgets the
 * connection either way) disarms it.
 *
 * ```
 * request (budget 1.5s, caller's token expires at 2s) --R--------------------
 * close via begin                                      -------- 500ms --C----
 * ```
 */
export function timeout(options: { scheduler?: SchedulerLike } = {}): NetworkServiceElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const timerKey = new ContextKey<Subscription>('timeout.timer');
  return {
    request: (request, ctx, next) =>
      defer(() => {
        const remaining = ctx.remaining(scheduler.now());
        const requestTimeout = Number.isFinite(remaining) ? remaining : 0;
        return next.request(request, ctx).pipe(
          concatMap((conn) => {
            const prev = prevSegment(conn);
            const expires = prev?.expires;
            if (expires === undefined) {
              // Nothing can time this connection out: undo it rather than leave it behind.
              const err = invalidArgument(
                prev
                  ? `the previous path segment "${prev.name}" of connection ${conn.id} has no expires (did the caller send nsm-client-token?)`
                  : `connection ${conn.id} has no previous path segment: the caller must add its own segment first`,
              );
              return concat(next.close(conn, ctx).pipe(catchError(() => of(undefined)), ignoreElements()), throwError(() => err));
            }
            const meta = metadataOf(ctx);
            meta.delete(timerKey)?.unsubscribe();
            const factory = eventFactoryOf(ctx);
            if (factory) {
              const delay = Math.max(0, timestampToMs(expires) - scheduler.now() - requestTimeout);
              // The Close runs detached: disarming the timer must not cancel a Close already queued.
              meta.set(timerKey, scheduler.schedule(() => factory.close().subscribe({ error: () => undefined }), delay));
            }
            return of(conn);
          }),
        );
      }),
    close: (conn, ctx, next) => next.close(conn, ctx).pipe(onSettle(() => metadataOf(ctx).delete(timerKey)?.unsubscribe())),
  };
}

import { status } from '../core/status.js';
import { asyncScheduler, defer, Subscription, timer, type SchedulerLike } from 'rxjs';
import { map, switchMap, tap } from 'rxjs/operators';
import { ContextKey } from '../core/context.js';
import { invalidArgument, statusOf } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { prevSegment, timestampToMs } from '../core/path.js';
import { eventFactoryOf } from './begin/eventFactory.js';
import { metadataOf } from './metadata.js';
import { refreshShareAtMost } from './refresh.js';

/** When the armed Close fires (scheduler time, ms) and the time budget of the Request that armed it (ms; undefined: none). */
interface Armed {
  readonly at: number;
  readonly budget: number | undefined;
}

/** A `timeout` element with the Closes it will send again (by connection id, for leak checks). */
export interface TimeoutElement extends NetworkServiceElement {
  readonly closingAgain: ReadonlyMap<string, Subscription>;
}

/** A Close that did not get its answer: upstream's context.DeadlineExceeded or context.Canceled. */
const unanswered = (err: unknown): boolean => {
  const code = statusOf(err);
  return code === status.DEADLINE_EXCEEDED || code === status.CANCELLED;
};

/**
 * `timeout` (server side): a hop that stops hearing from its client closes the connection itself.
 * After each Request it arms a Close (through begin) at the previous segment's `expires` minus the
 * request's time budget; a refresh re-arms it. A Request whose previous segment has no `expires`
 * fails with INVALID_ARGUMENT (upstream: an error, and no Close downstream either).
 *
 * But never before 0.4 of the token's remaining lifetime (refreshShareAtMost), when every
 * refreshing client has re-Requested: a budget near or above the lifetime (NSM_REQUEST_TIMEOUT 15 s,
 * NSM_MAX_TOKEN_LIFETIME 3 s) would otherwise close the connection right after each Request, and
 * the client would heal it for ever. (Upstream closes at once then; with a budget up to 0.6 of the
 * lifetime both close at the same time.)
 *
 * A Close disarms the timer, except when it fails with DEADLINE_EXCEEDED or CANCELLED (upstream
 * keeps its timer then): the next hop may never have heard it, so the same Close is sent
 * downstream once more when the timer fires, with the Request's budget. (A Close this hop
 * unsubscribes — its caller went away, or the hop is shutting down — disarms as usual: in nsm-rx
 * cancellation is unsubscription, and a hop that is going away must not leave timers behind.) (begin has
 * forgotten the connection by then, so it goes straight to the rest of the chain, as upstream's
 * event factory does.) A new Request for the same id drops that second Close and arms anew.
 *
 * ```
 * request (budget 1s, caller's token expires at 2s)   --R--------------------
 * close via begin                                      -------- 1000ms --C---
 *
 * close that times out                                 --R--C#-----------C--   (sent again at 1000ms)
 *
 * request (budget 15s, token expires at 3s)            --R--------------------
 * close via begin                                      ------- 1200ms --C----   (0.4 · 3s; upstream: at once)
 *
 * refresh in flight when the timer fires (t)           --R-----[---t---]-----   (its queued Close skipped: re-armed)
 * ```
 */
export function timeout(options: { scheduler?: SchedulerLike } = {}): TimeoutElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const armedKey = new ContextKey<Armed>('timeout.armed');
  const loopKey = Symbol('timeout');
  const closingAgain = new Map<string, Subscription>();
  const dropClosingAgain = (id: string) => {
    closingAgain.get(id)?.unsubscribe();
    closingAgain.delete(id);
  };
  return {
    closingAgain,
    request: (request, ctx, next) =>
      defer(() => {
        const remaining = ctx.remaining(scheduler.now());
        const requestTimeout = Number.isFinite(remaining) ? remaining : 0;
        return next.request(request, ctx).pipe(
          map((conn) => {
            const prev = prevSegment(conn);
            const expires = prev?.expires;
            if (expires === undefined) {
              throw invalidArgument(
                prev
                  ? `the previous path segment "${prev.name}" of connection ${conn.id} has no expires (did the caller send nsm-client-token?)`
                  : `connection ${conn.id} has no previous path segment: the caller must add its own segment first`,
              );
            }
            dropClosingAgain(conn.id);
            const meta = metadataOf(ctx);
            const factory = eventFactoryOf(ctx);
            if (factory) {
              const lifetime = timestampToMs(expires) - scheduler.now();
              const delay = Math.max(0, lifetime - requestTimeout, lifetime * refreshShareAtMost);
              meta.set(armedKey, { at: scheduler.now() + delay, budget: Number.isFinite(remaining) ? remaining : undefined });
              // Queued behind a Request in flight (a late refresh), the Close is dropped if that
              // Request re-arms: begin drops what a replaced loop queued (upstream begin.CancelContext).
              factory.loop(
                loopKey,
                timer(delay, scheduler).pipe(
                  // The timer's own Close is not sent again, whatever its outcome (as upstream).
                  tap(() => meta.delete(armedKey)),
                  switchMap(() => factory.close()),
                ),
              );
            }
            return conn;
          }),
        );
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        const meta = metadataOf(ctx);
        // Read now: the metadata is dropped once this Close settles.
        const armed = meta.get(armedKey);
        /** Moves the armed Close out of the metadata (dropped with this Close) to fire later. */
        const closeAgainAtExpiry = () => {
          if (armed === undefined) return;
          dropClosingAgain(conn.id);
          const again = scheduler.schedule(
            () => {
              closingAgain.delete(conn.id);
              next.close(conn, ctx.withBudget(scheduler.now(), armed.budget)).subscribe({ error: () => undefined });
            },
            Math.max(0, armed.at - scheduler.now()),
          );
          closingAgain.set(conn.id, again);
        };
        return next.close(conn, ctx).pipe(tap({ error: (err: unknown) => unanswered(err) && closeAgainAtExpiry() }));
      }),
  };
}

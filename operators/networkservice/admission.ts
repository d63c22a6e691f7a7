import { asyncScheduler, defer, Observable, throwError, type SchedulerLike, type Subscriber } from 'rxjs';
import { finalize, subscribeOn, switchMap, take, timeout } from 'rxjs/operators';
import { resourceExhausted } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';

export interface AdmissionOptions {
  /** Requests that may be in flight at once; 0: no bound (upstream's behaviour). */
  readonly maxInFlight: number;
  /** Who refuses, for the message (the nsmgr's name). */
  readonly name: string;
  /** The setting that holds the bound, named in the message so an operator knows what to raise. */
  readonly setting: string;
  readonly scheduler?: SchedulerLike;
}

/**
 * `admission` (nsm-rx; upstream has no bound): at most `maxInFlight` Requests in the chain at
 * once. One more waits its turn, first come first served, for up to half of the time its
 * deadline leaves it — the other half is for the Request itself — and is answered
 * RESOURCE_EXHAUSTED, naming the bound, if no turn came; one without a deadline has no time to
 * wait in and is answered so at once. Waiting costs nothing (no token check, no state, no call
 * downstream). A Request leaves the count when it is answered, fails or is cancelled, and hands
 * its turn to the first in line on the scheduler's next turn (a line of Requests that fail at
 * once does not stack up). Close always passes: it frees what the burst holds.
 *
 * Why: each hop runs on one event loop, so N Requests arriving together all advance stage by
 * stage and are all answered near the end — a burst of 10,000 took every caller past its
 * deadline (889 of 10,000 answered OK within 60 s) and left the nsmgr holding connections whose
 * callers had gone. Bounded, the admitted ones are answered within their budget. The bound is a
 * count, not a rate: admitted Requests still finish together, after about bound × per-Request
 * cost, so it must stay small enough for that to fit a caller's deadline on a busy node (see
 * NSM_MAX_REQUESTS_IN_FLIGHT). Refused at once instead of waiting, a burst of 1,000 clients made
 * 4,000–5,000 tries that cost the clients and the nsmgr as much as the Requests themselves.
 *
 * ```
 * maxInFlight 1; a and b have 20 frames left, c 16 (a turn is waited for half), d no deadline
 * a  ------(ok|)
 * b  --....------(ok|)               waits for a's turn
 * c  ---........(RESOURCE_EXHAUSTED)  b runs till 12: no turn within 8
 * d  ----(RESOURCE_EXHAUSTED)        no time to wait in: at once
 * ```
 */
export function admission(options: AdmissionOptions): NetworkServiceElement & { inFlight(): number; waiting(): number } {
  const { maxInFlight, name, setting } = options;
  const scheduler = options.scheduler ?? asyncScheduler;
  let inFlight = 0;
  /** Requests waiting for a turn, first in line first. */
  const line = new Set<Subscriber<void>>();
  const refused = (waited: string) => resourceExhausted(`${name}: ${inFlight} Requests in flight, at most ${maxInFlight} (${setting})${waited}; try again later`);
  /** The slot goes to the first in line, or is freed. */
  const handOver = () => {
    const [next] = line;
    if (next === undefined) inFlight--;
    else {
      line.delete(next);
      next.next();
    }
  };
  /** Emits once this Request's turn has come (its slot is then counted); leaves the line when unsubscribed. */
  const turn = new Observable<void>((subscriber) => {
    line.add(subscriber);
    return () => line.delete(subscriber);
  });

  return {
    inFlight: () => inFlight,
    waiting: () => line.size,
    request: (request, ctx, next) =>
      defer(() => {
        if (maxInFlight <= 0 || (inFlight < maxInFlight && line.size === 0)) {
          inFlight++;
          return next.request(request, ctx).pipe(finalize(handOver));
        }
        const wait = ctx.deadline === undefined ? 0 : (ctx.deadline - scheduler.now()) / 2;
        if (!(wait > 0)) return throwError(() => refused(''));
        return turn.pipe(
          take(1),
          timeout({ first: wait, with: () => throwError(() => refused(`, ${line.size} waiting; no turn within ${Math.round(wait)} ms, half the Request's time left`)), scheduler }),
          switchMap(() => next.request(request, ctx).pipe(subscribeOn(scheduler), finalize(handOver))),
        );
      }),
  };
}

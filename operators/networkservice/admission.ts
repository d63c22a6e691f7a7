import { defer, throwError } from 'rxjs';
import { finalize } from 'rxjs/operators';
import { resourceExhausted } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';

export interface AdmissionOptions {
  /** Requests that may be in flight at once; 0: no bound (upstream's behaviour). */
  readonly maxInFlight: number;
  /** Who refuses, for the message (the nsmgr's name). */
  readonly name: string;
  /** The setting that holds the bound, named in the message so an operator knows what to raise. */
  readonly setting: string;
}

/**
 * `admission` (nsm-rx; upstream has no bound): at most `maxInFlight` Requests in the chain at
 * once; one more is answered RESOURCE_EXHAUSTED at once, naming the bound, before it costs
 * anything (no token check, no state, no call downstream). A Request leaves the count when it is
 * answered, fails or is cancelled. Close always passes: it frees what the burst holds.
 *
 * Why: each hop runs on one event loop, so N Requests arriving together all advance stage by
 * stage and are all answered near the end — a burst of 10,000 took every caller past its
 * deadline (889 of 10,000 answered OK within 60 s) and left the nsmgr holding connections whose
 * callers had gone. Bounded, the admitted ones are answered within their budget and the others
 * learn quickly that they should try again (the nsc's retry does). The bound is a count, not a
 * rate: admitted Requests still finish together, after about bound × per-Request cost, so it must
 * stay small enough for that to fit a caller's deadline on a busy node (see NSM_MAX_REQUESTS_IN_FLIGHT).
 *
 * ```
 * maxInFlight 2
 * a  ----------(ok|)
 * b    -----(ok|)
 * c      (RESOURCE_EXHAUSTED)          two in flight
 * d            ------(ok|)             b answered: room again
 * ```
 */
export function admission(options: AdmissionOptions): NetworkServiceElement & { inFlight(): number } {
  let inFlight = 0;
  const { maxInFlight, name, setting } = options;
  return {
    inFlight: () => inFlight,
    request: (request, ctx, next) =>
      defer(() => {
        if (maxInFlight > 0 && inFlight >= maxInFlight) {
          return throwError(() => resourceExhausted(`${name}: ${inFlight} Requests in flight, at most ${maxInFlight} (${setting}); try again later`));
        }
        inFlight++;
        return next.request(request, ctx).pipe(finalize(() => inFlight--));
      }),
  };
}

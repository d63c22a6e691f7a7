import { asyncScheduler, concat, defer, NEVER, of, timer, type Observable, type SchedulerLike } from 'rxjs';
import { repeat, retry, tap } from 'rxjs/operators';
import { PrefixRequest, Type, type PrefixResponse } from '../proto/gen/ipam.js';

export interface Vl3PrefixOptions {
  /** Prefixes the NSE must not get (sent with every ALLOCATE). */
  readonly excludePrefixes?: readonly string[];
  /** Pause before opening the stream again, ms (upstream: 200 ms). */
  readonly retryMs?: number;
  readonly scheduler?: SchedulerLike;
}

/**
 * The prefix a vl3 NSE holds from ipam-vl3 (upstream vl3 NSE's prefix loop), as a stream of the
 * server's answers: `open` starts a ManagePrefixes stream, which sends one ALLOCATE and stays open
 * (the server holds the prefix while it lives). When it breaks or ends it is opened again after
 * `retryMs`, asking for the prefix the NSE had: a restarted server gives it back if it is free.
 *
 * ```
 * stream 1   ^-a----#
 * stream 2           --^-a'---       (ALLOCATE prefix=a: a' = a when free)
 * answers    --a--------a'---
 * ```
 */
export function vl3Prefix(open: (requests: Observable<PrefixRequest>) => Observable<PrefixResponse>, options: Vl3PrefixOptions = {}): Observable<PrefixResponse> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const again = { delay: () => timer(options.retryMs ?? 200, scheduler) };
  return defer(() => {
    let held = '';
    const allocate = () => PrefixRequest.fromPartial({ type: Type.ALLOCATE, prefix: held, excludePrefixes: [...(options.excludePrefixes ?? [])] });
    return defer(() => open(concat(of(allocate()), NEVER))).pipe(
      tap((answer) => (held = answer.prefix)),
      repeat(again),
      retry(again),
    );
  });
}

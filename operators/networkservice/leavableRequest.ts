import { AsyncSubject, defer, EMPTY, throwError, type Observable } from 'rxjs';
import { catchError } from 'rxjs/operators';
import type { Connection } from '../../proto/gen/connection.js';
import type { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import type { Context } from '../core/context.js';
import type { NetworkServiceHandler } from '../core/networkservice.js';

/** A connection's first Request, tried until it succeeds, that its caller may leave at any moment. */
export interface LeavableRequest {
  /** The answer, once (hot: the Request runs from the call, whoever listens); errors as the tries give up. */
  readonly answer: Observable<Connection>;
  /**
   * The caller leaves: no try starts any more, and the try in flight runs to its end. Emits the
   * connection the Request returned, before or after leaving — the caller Closes it — or
   * completes empty when none did (the hops undo a failed Request themselves).
   */
  leave(): Observable<Connection>;
}

/**
 * The first Request of a client's connection (`retrying` wraps the tries: retryClient), run so
 * that leaving it never leaves the connection behind at the hops.
 *
 * Cancelling a Request in flight does not undo it: each hop hears of the cancellation late, the
 * hops below may have set the connection up and answered already, and a hop whose Request is
 * cancelled forgets the id — a Close sent after the cancellation ends there and never reaches
 * them. A Close sent before the answer cannot name them either: only the answer carries the
 * segment ids the hops gave the connection. So leaving does not cancel: the try in flight ends
 * as it would have, and what it returned is handed over to be Closed — after the Request at
 * every hop, since the Close starts from its answer. Leaving between tries ends the tries after
 * the pause (at most the retry interval).
 *
 * ```
 * tries   -X-200ms-R-----c          (left during the second try: it runs to its end)
 * leave   -----------^
 * left    -----------------(c|)     (the connection to Close)
 * ```
 */
export function leavableRequest(
  next: NetworkServiceHandler,
  retrying: (tries: NetworkServiceHandler) => NetworkServiceHandler,
  request: NetworkServiceRequest,
  ctx: Context,
): LeavableRequest {
  let left = false;
  const tries: NetworkServiceHandler = {
    request: (r, c) =>
      defer(() =>
        // After leaving, no try starts, and a failed one is the last (it completes: the retry ends).
        left ? EMPTY : next.request(r, c).pipe(catchError((e: unknown) => (left ? EMPTY : throwError(() => e)))),
      ),
    close: next.close,
  };
  // Subscribed here, not by the caller: the caller's unsubscription must not cancel a try.
  const answer = new AsyncSubject<Connection>();
  retrying(tries).request(request, ctx).subscribe(answer);
  return {
    answer: answer.asObservable(),
    leave: () => {
      left = true;
      return answer.pipe(catchError(() => EMPTY));
    },
  };
}

import { status } from '../../operators/core/status.js';
import { identity, Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { statusOf } from '../../operators/core/errors.js';
import type { CallObserver } from '../../operators/tools/metrics.js';

/**
 * `observeCall(observer, method, unary)` tells `observer` of each subscription to the call: its
 * start, then its end — OK on completion (or, for a unary call, on its answer: a caller that takes
 * the answer and goes has not cancelled anything), the error's code on error, CANCELLED when
 * unsubscribed first. Without an observer it is the identity. One subscriber a call, no more:
 * it is on every call's path.
 *
 * ```
 * source    --a--b--|          --a--#(UNAVAILABLE)       --a--!        --a--!  (unary)
 * observer  ^-------OK         ^-----UNAVAILABLE         ^----CANCELLED ^-OK
 * ```
 */
export function observeCall<T>(observer: CallObserver | undefined, method: string, unary = false): MonoTypeOperatorFunction<T> {
  if (observer === undefined) return identity;
  return (source) =>
    new Observable<T>((subscriber) => {
      const end = observer(method);
      let ended = false;
      const once = (code: status) => {
        if (ended) return;
        ended = true;
        end(code);
      };
      const subscription = source.subscribe({
        next: (value) => {
          if (unary) once(status.OK);
          subscriber.next(value);
        },
        error: (e: unknown) => {
          once(statusOf(e));
          subscriber.error(e);
        },
        complete: () => {
          once(status.OK);
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        once(status.CANCELLED);
      };
    });
}

/** `observer` (if any) told of a call as usual, and `span` ended with the call's status too: one observation where there would be two. */
export const endingSpan =
  (observer: CallObserver | undefined, span: { end(code: status): void }): CallObserver =>
  (method) => {
    const end = observer?.(method);
    return (code) => {
      end?.(code);
      span.end(code);
    };
  };

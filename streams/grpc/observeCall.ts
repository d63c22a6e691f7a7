import { status } from '@grpc/grpc-js';
import { defer, identity, type MonoTypeOperatorFunction } from 'rxjs';
import { tap } from 'rxjs/operators';
import { statusOf } from '../../operators/core/errors.js';
import type { CallObserver } from '../../operators/tools/metrics.js';

/**
 * `observeCall(observer, method)` tells `observer` of each subscription to the call: its start,
 * then its end — OK on completion, the error's code on error, CANCELLED when unsubscribed first.
 * Without an observer it is the identity.
 *
 * ```
 * source    --a--b--|          --a--#(UNAVAILABLE)       --a--!
 * observer  ^-------OK         ^-----UNAVAILABLE         ^----CANCELLED
 * ```
 */
export function observeCall<T>(observer: CallObserver | undefined, method: string): MonoTypeOperatorFunction<T> {
  if (observer === undefined) return identity;
  return (source) =>
    defer(() => {
      const end = observer(method);
      let ended = false;
      const once = (code: status) => {
        if (ended) return;
        ended = true;
        end(code);
      };
      return source.pipe(tap({ complete: () => once(status.OK), error: (e: unknown) => once(statusOf(e)), unsubscribe: () => once(status.CANCELLED) }));
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

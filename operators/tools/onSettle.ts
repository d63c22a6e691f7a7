import type { MonoTypeOperatorFunction } from 'rxjs';
import { tap } from 'rxjs/operators';

/**
 * Runs `fn` once when the source completes, errors or is unsubscribed, *before* subscribers
 * hear about it. Unlike `finalize`, which runs after them: state must be settled by the time a
 * caller (or the next task of a serial executor) acts on the result.
 */
export function onSettle<T>(fn: () => void): MonoTypeOperatorFunction<T> {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    fn();
  };
  return tap({ complete: once, error: once, unsubscribe: once });
}

import type { Observable } from 'rxjs';
import type { NsmError } from '../operators/core/errors.js';

/** The value of an Observable that must settle synchronously (elements whose next is synchronous). */
export function sync<T>(o: Observable<T>): T {
  let value: T | undefined;
  let error: unknown;
  let done = false;
  o.subscribe({ next: (v) => (value = v), error: (e: unknown) => ((error = e), (done = true)), complete: () => (done = true) });
  if (error !== undefined) throw error;
  if (!done) throw new Error('observable did not settle synchronously');
  return value as T;
}

/** The error `fn` throws (failing the test if it throws none). */
export const errorOf = (fn: () => unknown): NsmError => {
  try {
    fn();
  } catch (e) {
    return e as NsmError;
  }
  throw new Error('expected an error');
};

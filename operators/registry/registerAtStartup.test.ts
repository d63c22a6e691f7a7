import { defer, NEVER, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Context } from '../core/context.js';
import { unavailable } from '../core/errors.js';
import { registerAtStartup } from './registerAtStartup.js';
import { marbles } from '../../test/marbles.js';

/** The n-th try answers `tries[n]` (the last repeats); records when each try began and its deadline. */
function tries(list: readonly Observable<string>[], now: () => number) {
  const seen: { at: number; deadline: number | undefined }[] = [];
  const register = (ctx: Context): Observable<string> =>
    defer(() => {
      const n = seen.push({ at: now(), deadline: ctx.deadline }) - 1;
      return list[Math.min(n, list.length - 1)] as Observable<string>;
    });
  return { register, seen };
}

describe('registerAtStartup', () => {
  it('tries again 200 ms after each failure, reporting every one, until the registry answers', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const fail = cold('-#', undefined, unavailable('no nsmgr yet'));
      const { register, seen } = tries([fail, fail, cold('-a|')], () => scheduler.now());
      const failures: number[] = [];
      //  try 1: -#   try 2 at 201: -#   try 3 at 402: -a|
      expectObservable(registerAtStartup(register, { scheduler, onFailure: (_, n) => failures.push(n) })).toBe('403ms (a|)');
      flush();
      expect(seen.map((s) => s.at)).toEqual([0, 201, 402]);
      expect(failures).toEqual([1, 2]);
    });
  });

  it('has no total deadline: a try hanging past 15 s is cut there and tried again, without end', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { register, seen } = tries([NEVER, NEVER, NEVER, cold('a|')], () => scheduler.now());
      let failures = 0;
      expectObservable(registerAtStartup(register, { scheduler, onFailure: () => failures++ })).toBe('45600ms (a|)');
      flush();
      // Each try gets its own 15 s budget as its deadline.
      expect(seen).toEqual([
        { at: 0, deadline: 15_000 },
        { at: 15_200, deadline: 30_200 },
        { at: 30_400, deadline: 45_400 },
        { at: 45_600, deadline: 60_600 },
      ]);
      expect(failures).toBe(3);
    });
  });

  it('stops trying when unsubscribed (the daemon shuts down)', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { register, seen } = tries([cold('-#', undefined, unavailable('down'))], () => scheduler.now());
      expectObservable(registerAtStartup(register, { scheduler }), '^ 500ms !').toBe('');
      flush();
      expect(seen.map((s) => s.at)).toEqual([0, 201, 402]);
    });
  });
});

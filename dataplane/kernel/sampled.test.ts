import { BehaviorSubject, defer, of, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { marbles } from '../../test/marbles.js';
import { sampled } from './sampled.js';

describe('sampled', () => {
  it('the latest at once, then a read every interval; a failed or empty read keeps the last value; what is put in latest comes too', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const latest = new BehaviorSubject<string | undefined>('a');
      const reads = [cold('-b|'), cold('-#'), cold('-|')];
      const stream = sampled(latest, () => reads.shift() as Observable<string>, 10, scheduler);
      scheduler.schedule(() => latest.next('d'), 40);
      expectObservable(stream, '^ 50ms !').toBe('a 10ms b 28ms d', { a: 'a', b: 'b', d: 'd' });
      flush();
      expect(latest.value).toBe('d');
    });
  });

  it('one timer however many read; it stops when the last reader leaves, and a later reader gets the latest at once', () => {
    marbles(({ expectObservable, flush }, scheduler) => {
      const latest = new BehaviorSubject<number | undefined>(0);
      const readAt: number[] = [];
      const stream = sampled(latest, () => defer(() => of(readAt.push(scheduler.now()))), 10, scheduler);
      expectObservable(stream, '^ 25ms !').toBe('a 9ms b 9ms c', { a: 0, b: 1, c: 2 });
      expectObservable(stream, '5ms ^ 15ms !').toBe('5ms a 4ms b 9ms c', { a: 0, b: 1, c: 2 });
      expectObservable(stream, '50ms ^ 5ms !').toBe('50ms a', { a: 2 });
      flush();
      expect(readAt).toEqual([10, 20]); // no reads between 26 and 50 ms, none for the third reader yet
    });
  });

  it('nothing before the first value', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const latest = new BehaviorSubject<string | undefined>(undefined);
      expectObservable(sampled(latest, () => cold('-x|'), 10, scheduler), '^ 15ms !').toBe('11ms x');
    });
  });
});

import { take } from 'rxjs/operators';
import { describe, it } from 'vitest';
import { latestOf } from './latest.js';
import { marbles } from '../test/marbles.js';

describe('latestOf', () => {
  it('replays the latest value to each reader, starting the source at the first subscription', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('---a----b----|');
      const { latest$ } = latestOf(source, 'e');
      expectObservable(latest$).toBe('---a----b----|');
      expectObservable(latest$.pipe(take(1)), '^ 10ms !').toBe('---(a|)');
      expectSubscriptions(source.subscriptions).toBe('^------------!');
    });
  });

  it('a source that fails or ends before a value reads as the empty value', () => {
    marbles(({ cold, expectObservable }) => {
      expectObservable(latestOf(cold('---#'), 'e').latest$).toBe('---(e|)');
      expectObservable(latestOf(cold('--|'), 'e').latest$).toBe('--(e|)');
    });
  });

  it('disposed: the source is left and readers keep its last value', () => {
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a---b');
      const followed = latestOf(source, 'e');
      expectObservable(followed.latest$).toBe('-a-|');
      cold('---x').subscribe(() => followed.dispose());
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('disposed before any value: readers get the empty value', () => {
    marbles(({ cold, expectObservable }) => {
      const never = latestOf(cold('-'), 'e');
      never.dispose();
      expectObservable(never.latest$).toBe('(e|)');
    });
  });
});

import { describe, expect, it } from 'vitest';
import { timer } from 'rxjs';
import { switchMap } from 'rxjs/operators';
import { linger } from './linger.js';
import { marbles } from '../../test/marbles.js';

describe('linger', () => {
  it('passes values and the end through while subscribed', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const source = cold('--a--b--|');
      expectObservable(source.pipe(linger(5, scheduler))).toBe('--a--b--|');
      expectSubscriptions(source.subscriptions).toBe('^-------!');
    });
  });

  it('holds the source, unheard, for `duration` after the subscriber lets go, then unsubscribes it', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const source = cold('--a--b-------c-----|');
      expectObservable(source.pipe(linger(5, scheduler)), '^------!').toBe('--a--b--');
      expectSubscriptions(source.subscriptions).toBe('^-----------!');
    });
  });

  it('lets a source that ends within `duration` end on its own', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const source = cold('--a--b---|');
      expectObservable(source.pipe(linger(5, scheduler)), '^------!').toBe('--a--b--');
      expectSubscriptions(source.subscriptions).toBe('^--------!');
    });
  });

  it('passes an error through and holds nothing after it', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const source = cold('--a--#');
      expectObservable(source.pipe(linger(5, scheduler))).toBe('--a--#');
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it('leaves no timer behind once the source ended on its own', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const source = cold('--a|');
      expectObservable(source.pipe(linger(50, scheduler)), '^-!').toBe('--');
      // A timer still pending would carry the clock to frame 52.
      scheduler.flush();
      expect(scheduler.now()).toBe(3);
    });
  });

  it('leaves no timer behind once the source ended while subscribed', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const source = cold('--a|');
      expectObservable(source.pipe(linger(50, scheduler))).toBe('--a|');
      scheduler.flush();
      expect(scheduler.now()).toBe(3);
    });
  });

  it('gives a subscriber that comes after the end that end, not a new source', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const source = cold('--a|');
      const held = source.pipe(linger(5, scheduler));
      expectObservable(held).toBe('--a|');
      expectObservable(timer(6, scheduler).pipe(switchMap(() => held))).toBe('------|');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });
});

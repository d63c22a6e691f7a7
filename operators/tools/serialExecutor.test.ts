import { concat, merge, of, throwError } from 'rxjs';
import { take } from 'rxjs/operators';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { SerialExecutor } from './serialExecutor.js';

const newScheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('SerialExecutor', () => {
  it('runs tasks one at a time in FIFO order', () => {
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const executor = new SerialExecutor();
      const a = cold('--(a|)');
      const b = cold('-(b|)');
      const c = cold('---(c|)');
      // all three are queued at frame 0; each starts when the one before it completes
      const all = merge(executor.exec(() => a), executor.exec(() => b), executor.exec(() => c));
      expectObservable(all).toBe('--ab--(c|)');
      expectSubscriptions(a.subscriptions).toBe('^-!');
      expectSubscriptions(b.subscriptions).toBe('--^!');
      expectSubscriptions(c.subscriptions).toBe('---^--!');
    });
  });

  it('queues work submitted later behind the running task, and runs it at once when idle', () => {
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const executor = new SerialExecutor();
      const a = cold('----(a|)');
      const b = cold('-(b|)');
      const c = cold('-(c|)');
      expectObservable(executor.exec(() => a)).toBe('----(a|)');
      expectObservable(executor.exec(() => b), '--^').toBe('-----(b|)');
      expectObservable(executor.exec(() => c), '-------^').toBe('--------(c|)');
      expectSubscriptions(a.subscriptions).toBe('^---!');
      expectSubscriptions(b.subscriptions).toBe('----^!');
      expectSubscriptions(c.subscriptions).toBe('-------^!');
    });
  });

  it('an error ends the task and lets the next one start', () => {
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const executor = new SerialExecutor();
      const a = cold('--#');
      const b = cold('-(b|)');
      expectObservable(executor.exec(() => a)).toBe('--#');
      expectObservable(executor.exec(() => b)).toBe('---(b|)');
      expectSubscriptions(b.subscriptions).toBe('--^!');
    });
  });

  it('unsubscribing a queued task drops it: its work never starts', () => {
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const executor = new SerialExecutor();
      const a = cold('---(a|)');
      const b = cold('-(b|)');
      const c = cold('-(c|)');
      expectObservable(executor.exec(() => a)).toBe('---(a|)');
      expectObservable(executor.exec(() => b), '^-!').toBe('');
      expectObservable(executor.exec(() => c)).toBe('----(c|)');
      expectSubscriptions(b.subscriptions).toBe([]);
      expectSubscriptions(c.subscriptions).toBe('---^!');
    });
  });

  it('unsubscribing the running task cancels its work and starts the next one', () => {
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const executor = new SerialExecutor();
      const a = cold('-----(a|)');
      const b = cold('-(b|)');
      expectObservable(executor.exec(() => a), '^-!').toBe('');
      expectObservable(executor.exec(() => b)).toBe('---(b|)');
      expectSubscriptions(a.subscriptions).toBe('^-!');
      expectSubscriptions(b.subscriptions).toBe('--^!');
    });
  });

  it('synchronous work completes synchronously and does not block the queue', () => {
    const executor = new SerialExecutor();
    const seen: string[] = [];
    executor.exec(() => of('a')).subscribe((v) => seen.push(v));
    executor.exec(() => of('b')).subscribe((v) => seen.push(v));
    expect(seen).toEqual(['a', 'b']);
    expect(executor.idle).toBe(true);
    executor.exec(() => of('c')).subscribe({ complete: () => seen.push('c done') });
    expect(seen).toEqual(['a', 'b', 'c done']);
  });

  it('work queued by a synchronous task runs after it, in order', () => {
    const executor = new SerialExecutor();
    const seen: string[] = [];
    executor
      .exec(() => {
        executor.exec(() => of('inner')).subscribe((v) => seen.push(v));
        seen.push('outer');
        return of('outer done');
      })
      .subscribe((v) => seen.push(v));
    expect(seen).toEqual(['outer', 'outer done', 'inner']);
    expect(executor.idle).toBe(true);
  });

  it('is cold: nothing is queued until subscribed', () => {
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const executor = new SerialExecutor();
      const a = cold('-(a|)');
      executor.exec(() => a); // never subscribed
      expect(executor.idle).toBe(true);
      const b = cold('-(b|)');
      expectObservable(executor.exec(() => b)).toBe('-(b|)');
      expectSubscriptions(a.subscriptions).toBe([]);
    });
  });

  it('work that throws while being created errors that task only; the queue goes on', () => {
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const executor = new SerialExecutor();
      const b = cold('-(b|)');
      expectObservable(
        executor.exec<string>(() => {
          throw new Error('boom');
        }),
      ).toBe('#', undefined, new Error('boom'));
      expectObservable(executor.exec(() => b)).toBe('-(b|)');
      expectSubscriptions(b.subscriptions).toBe('^!');
    });
  });

  it('unsubscribing during a synchronous emission cancels the rest of the work', () => {
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const executor = new SerialExecutor();
      const first = cold('--(x|)');
      const rest = cold('---(b|)');
      const next = cold('-(c|)');
      expectObservable(executor.exec(() => first)).toBe('--(x|)');
      // queued behind `first`; take(1) unsubscribes while the task is still being started
      expectObservable(executor.exec(() => concat(of('a'), rest)).pipe(take(1))).toBe('--(a|)');
      expectObservable(executor.exec(() => next)).toBe('---(c|)');
      // the remainder of the cancelled work is torn down at once, not left running
      expectSubscriptions(rest.subscriptions).toBe('--(^!)');
      expectSubscriptions(next.subscriptions).toBe('--^!');
    });
  });

  it('errors thrown by observables are passed through unchanged', () => {
    const executor = new SerialExecutor();
    const err = new Error('x');
    let got: unknown;
    executor.exec(() => throwError(() => err)).subscribe({ error: (e: unknown) => (got = e) });
    expect(got).toBe(err);
    expect(executor.idle).toBe(true);
  });

  it('execToEnd: unsubscribed while queued it is dropped; once started it runs to its end', () => {
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const executor = new SerialExecutor();
      const first = cold('--(x|)');
      const dropped = cold('-(d|)');
      const started = cold('----(s|)');
      const after = cold('-(a|)');
      expectObservable(executor.exec(() => first)).toBe('--(x|)');
      // queued behind `first`, its caller leaves at 1: never started
      expectObservable(executor.execToEnd(() => dropped), '^!').toBe('-');
      // starts at 2, its caller leaves at 3: the work goes on to 6
      expectObservable(executor.execToEnd(() => started), '^--!').toBe('---');
      expectObservable(executor.exec(() => after)).toBe('-------(a|)');
      expectSubscriptions(dropped.subscriptions).toBe([]);
      expectSubscriptions(started.subscriptions).toBe('--^---!');
      expectSubscriptions(after.subscriptions).toBe('------^!');
    });
  });
});

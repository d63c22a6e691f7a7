import { status } from '../core/status.js';
import { defer, Observable } from 'rxjs';
import { map } from 'rxjs/operators';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint, NetworkServiceEndpointQuery, type NetworkServiceEndpointResponse } from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { DialError, unavailable } from '../core/errors.js';
import { registryChain, type NSEHandler } from '../core/registry.js';
import { registryRetry, registryRetryClient } from './retry.js';
import { marbles } from '../../test/marbles.js';

const nse = () => NetworkServiceEndpoint.fromPartial({ name: 'nse-1', url: 'tcp://127.0.0.1:5001' });
const query = (watch = true) => NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { name: 'nse-1' }, watch });
const failure = (n: number) => unavailable(`try ${n} failed`);
/** The registry could not be reached at all: the Find stream was never created. */
const dialFailure = (n: number) => new DialError(`dial ${n} failed`);
const values = { a: { networkServiceEndpoint: nse(), deleted: false }, b: { networkServiceEndpoint: nse(), deleted: true } };

/**
 * A registry whose n-th try (of any method) is `tries[n]` (the last one repeats); Register answers
 * with the item it got, Unregister with nothing, Find with the try's own values. Records the
 * time, context and item of every try, and mutates the item it got (to catch shared copies).
 */
function flakyRegistry(scheduler: TestScheduler, tries: readonly Observable<unknown>[]) {
  const attempts: { at: number; ctx: Context; url: string }[] = [];
  const attempt = (ctx: Context, url: string): Observable<unknown> =>
    defer(() => {
      const n = attempts.push({ at: scheduler.now(), ctx, url }) - 1;
      return tries[Math.min(n, tries.length - 1)] as Observable<unknown>;
    });
  const handler: NSEHandler = {
    register: (item, ctx) =>
      attempt(ctx, item.url).pipe(
        map(() => {
          const answer = NetworkServiceEndpoint.fromPartial(item);
          item.url = 'changed by a try';
          return answer;
        }),
      ),
    find: (q, ctx) => attempt(ctx, q.networkServiceEndpoint?.url ?? '') as Observable<NetworkServiceEndpointResponse>,
    unregister: (item, ctx) => {
      const url = item.url;
      item.url = 'changed by a try';
      return attempt(ctx, url).pipe(map(() => undefined));
    },
  };
  return { handler, attempts, times: () => attempts.map((a) => a.at) };
}

describe('registryRetryClient: Register and Unregister', () => {
  it('tries again 200 ms after a failure and stops at the first success', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const fail1 = cold('-#', undefined, failure(0));
      const fail2 = cold('-#', undefined, failure(1));
      const ok = cold('--(c|)');
      const { handler } = flakyRegistry(scheduler, [fail1, fail2, ok]);
      const retrying = registryRetryClient(handler, { scheduler });
      //  try  -#                 (fails at 1)
      //  try  201: -#            (fails at 202)
      //  try  402: --(c|)        (answers at 404)
      expectObservable(retrying.register(nse(), Context.background).pipe(map((x) => x.name))).toBe('404ms (a|)', { a: 'nse-1' });
      expectSubscriptions(fail1.subscriptions).toBe('^!');
      expectSubscriptions(fail2.subscriptions).toBe('201ms ^!');
      expectSubscriptions(ok.subscriptions).toBe('402ms ^-!');
    });
  });

  it('Unregister is retried the same way', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { handler, times } = flakyRegistry(scheduler, [cold('-#', undefined, failure(0)), cold('-(c|)')]);
      expectObservable(registryRetryClient(handler, { scheduler }).unregister(nse(), Context.background)).toBe('202ms (x|)', { x: undefined });
      scheduler.flush();
      expect(times()).toEqual([0, 201]);
    });
  });

  it('does not retry a success', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { handler, times } = flakyRegistry(scheduler, [cold('-(c|)')]);
      registryRetryClient(handler, { scheduler }).register(nse(), Context.background).subscribe();
      flush();
      expect(times()).toEqual([0]);
    });
  });

  it('every try gets a fresh copy of the item and a budget of its own (at most tryTimeout)', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { handler, attempts } = flakyRegistry(scheduler, [cold('-#', undefined, failure(0)), cold('-(c|)')]);
      const item = nse();
      registryRetryClient(handler, { scheduler, tryTimeout: 1000 }).register(item, Context.background).subscribe();
      registryRetryClient(handler, { scheduler, tryTimeout: 1000 }).unregister(item, Context.background.withDeadline(500)).subscribe();
      flush();
      expect(attempts.map((a) => a.url)).toEqual(['tcp://127.0.0.1:5001', 'tcp://127.0.0.1:5001', 'tcp://127.0.0.1:5001']);
      expect(item.url).toBe('tcp://127.0.0.1:5001');
      expect(attempts[0]?.ctx.deadline).toBe(1000);
      expect(attempts[1]?.ctx.deadline).toBe(500); // the caller's deadline is earlier
      expect(attempts[2]?.ctx.deadline).toBe(201 + 1000);
    });
  });

  it('a try that hangs is cut at tryTimeout and tried again', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const hang = cold('-');
      const ok = cold('-(c|)');
      const { handler } = flakyRegistry(scheduler, [hang, ok]);
      expectObservable(registryRetryClient(handler, { scheduler, tryTimeout: 1000 }).register(nse(), Context.background).pipe(map((x) => x.name))).toBe(
        '1201ms (a|)',
        { a: 'nse-1' },
      );
      expectSubscriptions(hang.subscriptions).toBe('^ 999ms !');
      expectSubscriptions(ok.subscriptions).toBe('1200ms ^!');
    });
  });

  it('under a context without deadline it tries for ever (a daemon registering at start), reporting each failure', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const hang = cold('-');
      const { handler, attempts } = flakyRegistry(scheduler, [hang, hang, hang, cold('-(c|)')]);
      const failures: [number, number][] = [];
      const retrying = registryRetryClient(handler, { scheduler, onFailure: (e, attempt) => failures.push([attempt, (e as { code: number }).code]) });
      //  three tries cut at 15 s, 200 ms apart; the fourth (at 45.6 s) answers
      expectObservable(retrying.register(nse(), Context.background).pipe(map((x) => x.name))).toBe('45601ms (a|)', { a: 'nse-1' });
      flush();
      expect(attempts.map((a) => [a.at, a.ctx.deadline])).toEqual([
        [0, 15_000],
        [15_200, 30_200],
        [30_400, 45_400],
        [45_600, 60_600],
      ]);
      expect(failures).toEqual([
        [1, status.DEADLINE_EXCEEDED],
        [2, status.DEADLINE_EXCEEDED],
        [3, status.DEADLINE_EXCEEDED],
      ]);
    });
  });

  it('reports a failure only when it will try again', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { handler } = flakyRegistry(scheduler, [cold('-#', undefined, failure(0))]);
      let reported = 0;
      const retrying = registryRetryClient(handler, { scheduler, onFailure: () => reported++ });
      expectObservable(retrying.register(nse(), Context.background.withDeadline(300))).toBe('202ms #', undefined, failure(0));
      scheduler.flush();
      expect(reported).toBe(1);
    });
  });

  it('gives up with the last error when the caller’s deadline would pass before the next try', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { handler, times } = flakyRegistry(scheduler, [cold('-#', undefined, failure(0)), cold('-#', undefined, failure(1))]);
      // tries at 0 and 201; the second fails at 202 with 248 ms left: one more try at 402 fails at 403 with 47 left
      expectObservable(registryRetryClient(handler, { scheduler }).register(nse(), Context.background.withDeadline(450))).toBe(
        '403ms #',
        undefined,
        failure(1),
      );
      flush();
      expect(times()).toEqual([0, 201, 402]);
    });
  });

  it('a try timed out by tryTimeout fails with DEADLINE_EXCEEDED when no time is left to retry', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { handler } = flakyRegistry(scheduler, [cold('-')]);
      expectObservable(registryRetryClient(handler, { scheduler, tryTimeout: 100 }).register(nse(), Context.background.withDeadline(250))).toBe(
        '100ms #',
        undefined,
        expect.objectContaining({ code: status.DEADLINE_EXCEEDED }) as unknown as Error,
      );
    });
  });

  it('unsubscribing stops the retries (cancellation)', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { handler, times } = flakyRegistry(scheduler, [cold('-#', undefined, failure(0))]);
      const sub = registryRetryClient(handler, { scheduler }).register(nse(), Context.background).subscribe({ error: () => undefined });
      cold('450ms x').subscribe(() => sub.unsubscribe());
      flush();
      expect(times()).toEqual([0, 201, 402]);
      expect(scheduler.actions).toHaveLength(0);
    });
  });
});

describe('registryRetryClient: Find', () => {
  it('a Find that fails before its first response (the call could not be made) is tried again 200 ms later', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { handler, times } = flakyRegistry(scheduler, [cold('-#', undefined, dialFailure(0)), cold('-a-b-', values)]);
      expectObservable(registryRetryClient(handler, { scheduler }).find(query(), Context.background)).toBe('202ms a-b-', values);
      flush();
      expect(times()).toEqual([0, 201]);
    });
  });

  it('a Find that already answered is not retried: its error is the caller’s', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { handler, times } = flakyRegistry(scheduler, [cold('-a-#', values, failure(0))]);
      expectObservable(registryRetryClient(handler, { scheduler }).find(query(), Context.background)).toBe('-a-#', values, failure(0));
      flush();
      expect(times()).toEqual([0]);
    });
  });

  it('a Find try has no time limit of its own', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { handler, times } = flakyRegistry(scheduler, [cold('2000ms a', values)]);
      expectObservable(registryRetryClient(handler, { scheduler, tryTimeout: 100 }).find(query(), Context.background), '^ 3000ms !').toBe('2000ms a', values);
      flush();
      expect(times()).toEqual([0]);
    });
  });

  it('an error the registry answered with, even before any result, is the caller’s (upstream retries only stream creation)', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { handler, times } = flakyRegistry(scheduler, [cold('-#', undefined, failure(0)), cold('-a', values)]);
      expectObservable(registryRetryClient(handler, { scheduler }).find(query(), Context.background)).toBe('-#', undefined, failure(0));
      flush();
      expect(times()).toEqual([0]);
    });
  });

  it('Find gives up with the last error when the caller’s deadline would pass', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { handler } = flakyRegistry(scheduler, [cold('-#', undefined, dialFailure(0)), cold('-#', undefined, dialFailure(1))]);
      expectObservable(registryRetryClient(handler, { scheduler }).find(query(false), Context.background.withDeadline(300))).toBe('202ms #', undefined, dialFailure(1));
    });
  });

  it('a Find that ends without answering (nothing matched) is a success', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { handler, times } = flakyRegistry(scheduler, [cold('-|')]);
      expectObservable(registryRetryClient(handler, { scheduler }).find(query(false), Context.background)).toBe('-|');
      flush();
      expect(times()).toEqual([0]);
    });
  });
});

describe('registryRetry (chain element)', () => {
  it('retries the rest of the chain', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { handler } = flakyRegistry(scheduler, [cold('-#', undefined, failure(0)), cold('-(c|)')]);
      const chained = registryChain([registryRetry<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>({ scheduler })], handler);
      expectObservable(chained.register(nse(), Context.background).pipe(map((x) => x.name))).toBe('202ms (a|)', { a: 'nse-1' });
    });
  });
});

import { status } from '../core/status.js';
import { defer, Observable } from 'rxjs';
import { map } from 'rxjs/operators';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { unavailable } from '../core/errors.js';
import type { NetworkServiceHandler } from '../core/networkservice.js';
import { retryClient } from './retry.js';
import { marbles } from '../../test/marbles.js';

const request = () => NetworkServiceRequest.fromPartial({ connection: { id: 'a', networkService: 'ns' } });
const connection = () => Connection.fromPartial({ id: 'a', networkService: 'ns' });
const failure = (n: number) => unavailable(`try ${n} failed`);

/**
 * A client whose n-th try (Request or Close) is `tries[n]` (the last one repeats); it records
 * the time and context of every try.
 */
function flakyClient(scheduler: TestScheduler, tries: readonly Observable<unknown>[]) {
  const attempts: { at: number; ctx: Context; conn: Connection }[] = [];
  const attempt = <T>(conn: Connection, ctx: Context, value: T): Observable<T> =>
    defer(() => {
      const n = attempts.push({ at: scheduler.now(), ctx, conn }) - 1;
      return (tries[Math.min(n, tries.length - 1)] as Observable<unknown>).pipe(map(() => value));
    });
  const client: NetworkServiceHandler = {
    request: (req, ctx) => attempt(req.connection as Connection, ctx, req.connection as Connection),
    close: (conn, ctx) => attempt(conn, ctx, undefined),
  };
  return { client, attempts, times: () => attempts.map((a) => a.at) };
}

describe('retryClient', () => {
  it('tries again 200 ms after a failure and stops at the first success', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const fail1 = cold('-#', undefined, failure(0));
      const fail2 = cold('-#', undefined, failure(1));
      const ok = cold('--(c|)');
      const { client } = flakyClient(scheduler, [fail1, fail2, ok]);
      const retrying = retryClient(client, { scheduler });
      //  try  -#                 (fails at 1)
      //  try  201: -#            (fails at 202)
      //  try  402: --(c|)        (answers at 404)
      expectObservable(retrying.request(request(), Context.background).pipe(map((c) => c.id))).toBe('404ms (a|)');
      expectSubscriptions(fail1.subscriptions).toBe('^!');
      expectSubscriptions(fail2.subscriptions).toBe('201ms ^!');
      expectSubscriptions(ok.subscriptions).toBe('402ms ^-!');
    });
  });

  it('does not retry a success', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { client, times } = flakyClient(scheduler, [cold('-(c|)')]);
      expectObservable(retryClient(client, { scheduler }).request(request(), Context.background).pipe(map((c) => c.id))).toBe('-(a|)');
      flush();
      expect(times()).toEqual([0]);
    });
  });

  it('gives up with the last error when the caller’s deadline would pass during the pause', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { client, times } = flakyClient(scheduler, [cold('#', undefined, failure(0)), cold('#', undefined, failure(1)), cold('#', undefined, failure(2))]);
      const ctx = Context.background.withDeadline(500);
      // tries at 0, 200, 400; at 400 only 100 ms are left, less than the pause: rethrow
      expectObservable(retryClient(client, { scheduler }).request(request(), ctx)).toBe('400ms #', undefined, failure(2));
      flush();
      expect(times()).toEqual([0, 200, 400]);
    });
  });

  it('bounds each try by tryTimeout with DEADLINE_EXCEEDED', () => {
    marbles(({ cold, expectObservable, expectSubscriptions, flush }, scheduler) => {
      const hang = cold('-');
      const { client, attempts } = flakyClient(scheduler, [hang]);
      const ctx = Context.background.withDeadline(400);
      // try 0..50 times out, pause, try 250..300 times out with 100 ms left: give up
      expectObservable(retryClient(client, { scheduler, tryTimeout: 50 }).request(request(), ctx)).toBe(
        '300ms #',
        undefined,
        expect.objectContaining({ code: status.DEADLINE_EXCEEDED }) as unknown as Error,
      );
      expectSubscriptions(hang.subscriptions).toBe(['^ 49ms !', '250ms ^ 49ms !']);
      flush();
      // each try's context ends with the try
      expect(attempts.map((a) => a.ctx.deadline)).toEqual([50, 300]);
    });
  });

  it('a try’s deadline is never later than the caller’s', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { client, attempts } = flakyClient(scheduler, [cold('-(c|)')]);
      retryClient(client, { scheduler, tryTimeout: 15_000 }).request(request(), Context.background.withDeadline(100)).subscribe();
      flush();
      expect(attempts[0]?.ctx.deadline).toBe(100);
    });
  });

  it('retries Close the same way', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { client, times } = flakyClient(scheduler, [cold('-#', undefined, failure(0)), cold('-(x|)')]);
      expectObservable(retryClient(client, { scheduler }).close(connection(), Context.background)).toBe('202ms (x|)', { x: undefined });
      flush();
      expect(times()).toEqual([0, 201]);
    });
  });

  it('gives up on Close at the deadline too', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { client } = flakyClient(scheduler, [cold('#', undefined, failure(0))]);
      expectObservable(retryClient(client, { scheduler }).close(connection(), Context.background.withDeadline(300))).toBe('200ms #', undefined, failure(0));
    });
  });

  it('unsubscribing stops retrying', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { client, times } = flakyClient(scheduler, [cold('#', undefined, failure(0))]);
      expectObservable(retryClient(client, { scheduler }).request(request(), Context.background), '^ 450ms !').toBe('');
      flush();
      expect(times()).toEqual([0, 200, 400]);
    });
  });

  it('each try gets a fresh copy of the request', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { client, attempts } = flakyClient(scheduler, [cold('#', undefined, failure(0)), cold('(c|)')]);
      const wrapped: NetworkServiceHandler = {
        request: (req, ctx) => {
          (req.connection as Connection).networkServiceEndpointName = 'polluted';
          return client.request(req, ctx);
        },
        close: client.close,
      };
      const original = request();
      retryClient(wrapped, { scheduler }).request(original, Context.background).subscribe();
      flush();
      expect(attempts).toHaveLength(2);
      expect(original.connection?.networkServiceEndpointName).toBe('');
    });
  });

  it('honours a custom pause', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { client, times } = flakyClient(scheduler, [cold('#', undefined, failure(0)), cold('#', undefined, failure(1)), cold('(c|)')]);
      retryClient(client, { scheduler, interval: 50 }).request(request(), Context.background).subscribe();
      flush();
      expect(times()).toEqual([0, 50, 100]);
    });
  });
});

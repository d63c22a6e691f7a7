import { defer, type Observable } from 'rxjs';
import { map } from 'rxjs/operators';
import type { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { unavailable } from '../core/errors.js';
import type { NetworkServiceHandler } from '../core/networkservice.js';
import { leavableRequest, type LeavableRequest } from './leavableRequest.js';
import { retryClient } from './retry.js';
import { marbles } from '../../test/marbles.js';

const request = () => NetworkServiceRequest.fromPartial({ connection: { id: 'a', networkService: 'ns' } });
const failure = (n: number) => unavailable(`try ${n} failed`);
const idOf = map((c: Connection) => c.id);

/** A chain whose n-th Request try is `tries[n]` (the last one repeats), answering the requested connection. */
function chainOf(scheduler: TestScheduler, tries: readonly Observable<unknown>[]) {
  const at: number[] = [];
  const next: NetworkServiceHandler = {
    request: (req) =>
      defer(() => {
        const n = at.push(scheduler.now()) - 1;
        return (tries[Math.min(n, tries.length - 1)] as Observable<unknown>).pipe(map(() => Connection.fromPartial(req.connection as Connection)));
      }),
    close: () => defer(() => [undefined]),
  };
  return { next, at };
}

const leavable = (scheduler: TestScheduler, next: NetworkServiceHandler) =>
  leavableRequest(next, (tries) => retryClient(tries, { scheduler }), request(), Context.background);

/** Leaves when subscribed (at the subscription marble's `^`). */
const leaving = (first: LeavableRequest) => defer(() => first.leave());

describe('leavableRequest', () => {
  it('not left: the answer of the retrying Request', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { next, at } = chainOf(scheduler, [cold('-#', undefined, failure(0)), cold('--(c|)')]);
      expectObservable(leavable(scheduler, next).answer.pipe(idOf)).toBe('203ms (a|)');
      flush();
      expect(at).toEqual([0, 201]);
    });
  });

  it('left while a try is in flight: the try is not cancelled, and what it returns is handed over to be Closed', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const answering = cold('-----(c|)');
      const { next } = chainOf(scheduler, [answering]);
      const first = leavable(scheduler, next);
      // the caller listens until 2 only; the try runs on to 5
      expectObservable(first.answer.pipe(idOf), '^-!').toBe('---');
      expectObservable(leaving(first).pipe(idOf), '--^').toBe('-----(a|)');
      expectSubscriptions(answering.subscriptions).toBe('^----!');
    });
  });

  it('left while a try is in flight that then fails: no other try, nothing to Close', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { next, at } = chainOf(scheduler, [cold('---#', undefined, failure(0)), cold('-(c|)')]);
      const first = leavable(scheduler, next);
      expectObservable(leaving(first), '--^').toBe('---|');
      flush();
      expect(at).toEqual([0]);
    });
  });

  it('left between tries: no other try; the tries end with the pause', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { next, at } = chainOf(scheduler, [cold('-#', undefined, failure(0)), cold('-(c|)')]);
      const first = leavable(scheduler, next);
      // failed at 1, the next try was due at 201
      expectObservable(leaving(first), '50ms ^').toBe('201ms |');
      flush();
      expect(at).toEqual([0]);
    });
  });

  it('left after the answer: the answer, at once', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { next } = chainOf(scheduler, [cold('-(c|)')]);
      const first = leavable(scheduler, next);
      expectObservable(leaving(first).pipe(idOf), '-----^').toBe('-----(a|)');
    });
  });
});

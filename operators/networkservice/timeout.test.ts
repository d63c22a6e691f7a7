import { status } from '../core/status.js';
import { defer, NEVER, Observable, of, throwError } from 'rxjs';
import { map } from 'rxjs/operators';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { Connection, type PathSegment } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { cancelled, deadlineExceeded, unavailable } from '../core/errors.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { msToTimestamp } from '../core/path.js';
import { beginServer } from './begin/begin.js';
import { metadata } from './metadata.js';
import { timeout } from './timeout.js';
import { marbles } from '../../test/marbles.js';

const seg = (name: string, id: string, expiresAt?: number): PathSegment => ({
  name,
  id,
  token: '',
  expires: expiresAt === undefined ? undefined : msToTimestamp(expiresAt),
  metrics: {},
});

/** What an NSE sees: [nsc (caller's token expiring at `callerExpires`), nse], index 1. */
const request = (callerExpires: number | undefined) =>
  NetworkServiceRequest.fromPartial({
    connection: { id: 'nse-id', networkService: 'ns', path: { index: 1, pathSegments: [seg('nsc', 'nsc-id', callerExpires), seg('nse', 'nse-id')] } },
  });

/** chain([beginServer, metadata, timeout, fake next]); next answers after `replyAfter` ms. */
function setup(scheduler: TestScheduler, options: { replyAfter?: number; closeReply?: () => Observable<void> } = {}) {
  const requests: number[] = [];
  const closes: { at: number; conn: Connection }[] = [];
  const next: NetworkServiceHandler = {
    request: (req) =>
      defer(() => {
        requests.push(scheduler.now());
        const conn = Connection.fromPartial(req.connection as Connection);
        const reply = of(conn);
        return options.replyAfter ? new Observable<Connection>((s) => scheduler.schedule(() => reply.subscribe(s), options.replyAfter)) : reply;
      }),
    close: (conn) =>
      defer(() => {
        closes.push({ at: scheduler.now(), conn: Connection.fromPartial(conn) });
        return options.closeReply ? options.closeReply() : of(undefined);
      }),
  };
  const begin = beginServer({ scheduler });
  const meta = metadata();
  const element = timeout({ scheduler });
  const handler = chain([begin, meta, element], next);
  const budget = (ms: number) => Context.background.withDeadline(scheduler.now() + ms);
  return { handler, begin, meta, element, requests, closes, closeTimes: () => closes.map((c) => c.at), budget };
}

describe('timeout (server side)', () => {
  it('closes through begin at the caller token expiry minus the request budget (2 s token, 1 s budget → 1 s)', () => {
    marbles(({ flush }, scheduler) => {
      const t = setup(scheduler);
      t.handler.request(request(2000), t.budget(1000)).subscribe();
      flush();
      expect(t.closeTimes()).toEqual([1000]);
      expect(t.closes[0]?.conn.id).toBe('nse-id');
      // the Close went through begin: the connection is forgotten, metadata dropped
      expect(t.begin.connections.size).toBe(0);
      expect(t.meta.connections.size).toBe(0);
    });
  });

  it('the time next takes does not move the deadline: still prev expires − budget', () => {
    marbles(({ flush }, scheduler) => {
      const t = setup(scheduler, { replyAfter: 100 });
      t.handler.request(request(2000), t.budget(1000)).subscribe();
      flush();
      expect(t.closeTimes()).toEqual([1000]);
    });
  });

  it('without a deadline the Close comes at the expiry itself', () => {
    marbles(({ flush }, scheduler) => {
      const t = setup(scheduler);
      t.handler.request(request(2000), Context.background).subscribe();
      flush();
      expect(t.closeTimes()).toEqual([2000]);
    });
  });

  it('a budget above 0.6 of the lifetime closes at 0.4 of it, after the client refreshed (upstream’s Test_Timeout: 2 s token, 1.5 s budget → 800 ms, upstream 500 ms)', () => {
    marbles(({ flush }, scheduler) => {
      const t = setup(scheduler);
      t.handler.request(request(2000), t.budget(1500)).subscribe();
      flush();
      expect(t.closeTimes()).toEqual([800]);
    });
  });

  it('a budget above the token lifetime (15 s budget, 3 s token) closes at 0.4 of the lifetime, not at once (upstream: at once, and the client heals for ever)', () => {
    marbles(({ flush }, scheduler) => {
      const t = setup(scheduler);
      t.handler.request(request(3000), t.budget(15_000)).subscribe();
      flush();
      expect(t.closeTimes()).toEqual([1200]);
    });
  });

  it('a client refreshing at 0.2 of a 3 s token with a 15 s budget is never closed; once it stops, the Close comes 1.2 s after its last refresh', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler);
      t.handler.request(request(3000), t.budget(15_000)).subscribe();
      cold('600ms a 599ms b 599ms c').subscribe(() => t.handler.request(request(scheduler.now() + 3000), t.budget(15_000)).subscribe());
      flush();
      expect(t.requests).toEqual([0, 600, 1200, 1800]);
      expect(t.closeTimes()).toEqual([3000]);
    });
  });

  it('a Close the timer queued behind a refresh in flight is dropped when that refresh re-arms (upstream begin.CancelContext)', () => {
    marbles(({ cold, flush }, scheduler) => {
      // next answers after 200 ms: armed at 200 for 0.4 · 2800 → 1320; the refresh sent at
      // 1200 is in flight when the timer fires, answers at 1400 and re-arms: 1400 + 1120.
      const t = setup(scheduler, { replyAfter: 200 });
      t.handler.request(request(3000), t.budget(15_000)).subscribe();
      cold('1200ms x').subscribe(() => t.handler.request(request(scheduler.now() + 3000), t.budget(15_000)).subscribe());
      flush();
      expect(t.requests).toEqual([0, 1200]);
      expect(t.closeTimes()).toEqual([2520]);
    });
  });

  it('a refresh re-arms the timer from the new token', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler);
      t.handler.request(request(2000), t.budget(1000)).subscribe();
      // refresh at 300 with a token until 2800 → close at 1300, not at 500
      cold('300ms x').subscribe(() => t.handler.request(request(2800), t.budget(1500)).subscribe());
      flush();
      expect(t.requests).toEqual([0, 300]);
      expect(t.closeTimes()).toEqual([1300]);
    });
  });

  it('a Close disarms the timer', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler);
      t.handler.request(request(2000), t.budget(1000)).subscribe();
      cold('200ms x').subscribe(() => t.handler.close(Connection.fromPartial({ id: 'nse-id' }), Context.background).subscribe());
      // right after the Close no timer is left scheduled (the Close at 500 is gone)
      cold('201ms x').subscribe(() => expect(scheduler.actions).toHaveLength(0));
      flush();
      expect(t.closeTimes()).toEqual([200]);
    });
  });

  it('metadata dispose (the hop shuts down) disarms the timer', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler);
      t.handler.request(request(2000), t.budget(1000)).subscribe();
      cold('100ms x').subscribe(() => t.meta.dispose());
      cold('101ms x').subscribe(() => expect(scheduler.actions).toHaveLength(0));
      flush();
      expect(t.closeTimes()).toEqual([]);
    });
  });

  it('a Close that fails otherwise (UNAVAILABLE) ends the connection and disarms the timer', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { closeReply: () => throwError(() => unavailable('gone')) });
      t.handler.request(request(2000), t.budget(1000)).subscribe();
      cold('200ms x').subscribe(() => t.handler.close(Connection.fromPartial({ id: 'nse-id' }), Context.background).subscribe({ error: () => undefined }));
      // begin forgets the connection either way, so nothing is left to time out
      cold('201ms x').subscribe(() => expect(scheduler.actions).toHaveLength(0));
      flush();
      expect(t.closeTimes()).toEqual([200]);
      expect(t.begin.connections.size).toBe(0);
      expect(t.meta.connections.size).toBe(0);
    });
  });

  it('a Close that fails with DEADLINE_EXCEEDED keeps the timer: the Close is sent again at expiry (upstream), once', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { closeReply: () => throwError(() => deadlineExceeded('slow')) });
      const el = t.element;
      t.handler.request(request(2000), t.budget(1000)).subscribe();
      cold('200ms x').subscribe(() => t.handler.close(Connection.fromPartial({ id: 'nse-id' }), Context.background).subscribe({ error: () => undefined }));
      cold('201ms x').subscribe(() => expect(el.closingAgain.size).toBe(1));
      flush();
      expect(t.closeTimes()).toEqual([200, 1000]);
      expect(t.closes[1]?.conn.id).toBe('nse-id');
      expect(el.closingAgain.size).toBe(0);
      expect(t.begin.connections.size).toBe(0);
      expect(t.meta.connections.size).toBe(0);
    });
  });

  it('a Close that fails with CANCELLED is sent again at expiry; one this hop unsubscribes is not', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { closeReply: () => throwError(() => cancelled('caller went away')) });
      t.handler.request(request(2000), t.budget(1000)).subscribe();
      cold('200ms x').subscribe(() => t.handler.close(Connection.fromPartial({ id: 'nse-id' }), Context.background).subscribe({ error: () => undefined }));
      flush();
      expect(t.closeTimes()).toEqual([200, 1000]);
    });
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { closeReply: () => NEVER });
      // the caller goes away (or the hop shuts down) before the answer
      t.handler.request(request(2000), t.budget(1000)).subscribe();
      cold('200ms x').subscribe(() => {
        const closing = t.handler.close(Connection.fromPartial({ id: 'nse-id' }), Context.background).subscribe();
        cold('50ms x').subscribe(() => closing.unsubscribe());
      });
      flush();
      expect(t.closeTimes()).toEqual([200]);
      expect(t.element.closingAgain.size).toBe(0);
    });
  });

  it('the timer’s own Close that times out is not sent again', () => {
    marbles(({ flush }, scheduler) => {
      const t = setup(scheduler, { closeReply: () => throwError(() => deadlineExceeded('slow')) });
      t.handler.request(request(2000), t.budget(1000)).subscribe();
      flush();
      expect(t.closeTimes()).toEqual([1000]);
      expect(t.element.closingAgain.size).toBe(0);
    });
  });

  it('a new Request for the id drops the second Close and arms its own timer', () => {
    marbles(({ cold, flush }, scheduler) => {
      let failClose = true;
      const t = setup(scheduler, { closeReply: () => (failClose ? throwError(() => deadlineExceeded('slow')) : of(undefined)) });
      t.handler.request(request(2000), t.budget(1000)).subscribe();
      cold('200ms x').subscribe(() => t.handler.close(Connection.fromPartial({ id: 'nse-id' }), Context.background).subscribe({ error: () => undefined }));
      cold('300ms x').subscribe(() => {
        failClose = false;
        t.handler.request(request(3000), t.budget(1500)).subscribe();
      });
      flush();
      expect(t.requests).toEqual([0, 300]);
      expect(t.closeTimes()).toEqual([200, 1500]);
    });
  });

  it('missing previous-segment expires: INVALID_ARGUMENT (upstream: an error), nothing Closed downstream', () => {
    marbles(({ expectObservable, flush }, scheduler) => {
      const t = setup(scheduler);
      expectObservable(t.handler.request(request(undefined), t.budget(1500)).pipe(map((c) => c.id))).toBe(
        '#',
        undefined,
        expect.objectContaining({ code: status.INVALID_ARGUMENT }) as unknown as Error,
      );
      flush();
      expect(t.closeTimes()).toEqual([]);
      expect(t.begin.connections.size).toBe(0);
      expect(t.meta.connections.size).toBe(0);
    });
  });

  it('a first hop (no previous segment) is rejected the same way', () => {
    marbles(({ expectObservable }, scheduler) => {
      const t = setup(scheduler);
      const first = NetworkServiceRequest.fromPartial({
        connection: { id: 'nsc-id', path: { index: 0, pathSegments: [seg('nsc', 'nsc-id', 2000)] } },
      });
      expectObservable(t.handler.request(first, t.budget(1500))).toBe(
        '#',
        undefined,
        expect.objectContaining({ code: status.INVALID_ARGUMENT }) as unknown as Error,
      );
    });
  });
});

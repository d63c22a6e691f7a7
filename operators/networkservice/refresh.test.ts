import { defer, of, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { Connection, type PathSegment } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { unavailable } from '../core/errors.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { msToTimestamp } from '../core/path.js';
import { beginClient } from './begin/begin.js';
import { metadata } from './metadata.js';
import { refresh, refreshAfter } from './refresh.js';
import { marbles } from '../../test/marbles.js';

const seg = (name: string, expiresAt?: number): PathSegment => ({
  name,
  id: `${name}-id`,
  token: '',
  expires: expiresAt === undefined ? undefined : msToTimestamp(expiresAt),
  metrics: {},
});
const withPath = (index: number, ...segments: PathSegment[]) => Connection.fromPartial({ id: 'c', path: { index, pathSegments: segments } });

describe('refreshAfter', () => {
  it('one segment: a third of its remaining lifetime', () => {
    expect(refreshAfter(withPath(0, seg('nsc', 3000)), 0)).toBe(1000);
    expect(refreshAfter(withPath(0, seg('nsc', 4000)), 1000)).toBe(1000);
  });

  it('n segments: (0.2 + 0.2·index/n) of the shortest remaining lifetime', () => {
    const path = [seg('nsc', 10_000), seg('nsmgr', 5000), seg('fwd', 8000), seg('nse', 20_000)];
    expect(refreshAfter(withPath(0, ...path), 0)).toBeCloseTo(0.2 * 5000);
    expect(refreshAfter(withPath(1, ...path), 0)).toBeCloseTo(0.25 * 5000);
    expect(refreshAfter(withPath(3, ...path), 0)).toBeCloseTo(0.35 * 5000);
    expect(refreshAfter(withPath(2, ...path), 1000)).toBeCloseTo(0.3 * 4000);
  });

  it('a 15 min token refreshes an NSC after 3 min', () => {
    const conn = withPath(0, seg('nsc', 15 * 60_000), seg('nsmgr', 15 * 60_000), seg('fwd', 15 * 60_000), seg('nse', 15 * 60_000));
    expect(refreshAfter(conn, 0)).toBeCloseTo(3 * 60_000);
  });

  it('segments without expires are ignored', () => {
    expect(refreshAfter(withPath(0, seg('nsc'), seg('nsmgr', 5000)), 0)).toBeCloseTo(0.2 * 5000);
    expect(refreshAfter(withPath(1, seg('nsc', 6000), seg('nsmgr')), 0)).toBeCloseTo(0.3 * 6000);
  });

  it('no expires anywhere (or no path): undefined, never refresh', () => {
    expect(refreshAfter(withPath(0, seg('nsc'), seg('nsmgr')), 0)).toBeUndefined();
    expect(refreshAfter(Connection.fromPartial({ id: 'c' }), 0)).toBeUndefined();
  });

  it('already expired: refresh at once', () => {
    expect(refreshAfter(withPath(0, seg('nsc', 100)), 500)).toBe(0);
  });
});

/**
 * chain([beginClient, metadata, refresh, fake next]): the fake next answers at once with a
 * one-segment path whose token lives `lifetime` ms from now, and fails the calls `failAt` names.
 * After 20 calls it stops setting expires, so a runaway refresh loop cannot run forever.
 */
function setup(scheduler: TestScheduler, options: { lifetime?: number; failAt?: readonly number[] } = {}) {
  const lifetime = options.lifetime ?? 3000;
  const requests: number[] = [];
  const failures: number[] = [];
  const closes: number[] = [];
  const next: NetworkServiceHandler = {
    request: (req) =>
      defer(() => {
        const n = requests.push(scheduler.now()) - 1;
        if (options.failAt?.includes(n)) {
          failures.push(scheduler.now());
          return throwError(() => unavailable(`refresh ${n} failed`));
        }
        const conn = Connection.fromPartial(req.connection as Connection);
        conn.path = { index: 0, pathSegments: [seg('nsc', n < 20 ? scheduler.now() + lifetime : undefined)] };
        return of(conn);
      }),
    close: () =>
      defer(() => {
        closes.push(scheduler.now());
        return of(undefined);
      }),
  };
  const begin = beginClient({ scheduler });
  const meta = metadata();
  const handler = chain([begin, meta, refresh({ scheduler })], next);
  const req = () => NetworkServiceRequest.fromPartial({ connection: { id: 'c', networkService: 'ns' } });
  const conn = () => Connection.fromPartial({ id: 'c', networkService: 'ns' });
  return { handler, begin, meta, requests, failures, closes, req, conn };
}

describe('refresh element', () => {
  it('re-requests through begin at a third of the token lifetime, again and again', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { lifetime: 3000 });
      // request at 0 ----1000: refresh ----2000: refresh ----3000: refresh --3500: Close
      t.handler.request(t.req(), Context.background).subscribe();
      cold('3500ms x').subscribe(() => t.handler.close(t.conn(), Context.background).subscribe());
      flush();
      expect(t.requests).toEqual([0, 1000, 2000, 3000]);
      expect(t.closes).toEqual([3500]);
    });
  });

  it('failed refreshes are retried every 200 ms until one succeeds', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { lifetime: 3000, failAt: [1, 2, 3] });
      t.handler.request(t.req(), Context.background).subscribe();
      cold('2000ms x').subscribe(() => t.handler.close(t.conn(), Context.background).subscribe());
      flush();
      // 1000 fails, 1200 fails, 1400 fails, 1600 ok (expires 4600 → next refresh 2600, after the Close)
      expect(t.failures).toEqual([1000, 1200, 1400]);
      expect(t.requests).toEqual([0, 1000, 1200, 1400, 1600]);
    });
  });

  it('Close stops it: no Request after the Close, nothing left behind', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { lifetime: 3000 });
      t.handler.request(t.req(), Context.background).subscribe();
      cold('500ms x').subscribe(() => t.handler.close(t.conn(), Context.background).subscribe());
      // right after the Close no timer is left scheduled (the refresh at 1000 is gone)
      cold('501ms x').subscribe(() => expect(scheduler.actions).toHaveLength(0));
      flush();
      expect(t.requests).toEqual([0]);
      expect(t.closes).toEqual([500]);
      expect(t.begin.connections.size).toBe(0);
      expect(t.meta.connections.size).toBe(0);
    });
  });

  it('Close during a retry loop stops the retries', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { lifetime: 3000, failAt: [1, 2, 3, 4, 5, 6, 7, 8] });
      t.handler.request(t.req(), Context.background).subscribe();
      cold('1300ms x').subscribe(() => t.handler.close(t.conn(), Context.background).subscribe());
      flush();
      expect(t.requests).toEqual([0, 1000, 1200]);
    });
  });

  it('a later caller Request re-arms: the earlier schedule is dropped', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { lifetime: 3000 });
      t.handler.request(t.req(), Context.background).subscribe();
      // the caller refreshes at 500 itself: the next refresh is at 1500, not at 1000
      cold('500ms x').subscribe(() => t.handler.request(t.req(), Context.background).subscribe());
      cold('2000ms x').subscribe(() => t.handler.close(t.conn(), Context.background).subscribe());
      flush();
      expect(t.requests).toEqual([0, 500, 1500]);
    });
  });

  it('a Request after a Close arms it again', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { lifetime: 3000 });
      t.handler.request(t.req(), Context.background).subscribe();
      cold('500ms x').subscribe(() => t.handler.close(t.conn(), Context.background).subscribe());
      cold('2000ms x').subscribe(() => t.handler.request(t.req(), Context.background).subscribe());
      cold('3500ms x').subscribe(() => t.handler.close(t.conn(), Context.background).subscribe());
      flush();
      expect(t.requests).toEqual([0, 2000, 3000]);
      expect(t.closes).toEqual([500, 3500]);
    });
  });

  it('a connection without expires is never refreshed', () => {
    marbles(({ flush }, scheduler) => {
      const requests: number[] = [];
      const next: NetworkServiceHandler = {
        request: (req) => defer(() => (requests.push(scheduler.now()), of(Connection.fromPartial(req.connection as Connection)))),
        close: () => of(undefined),
      };
      const handler = chain([beginClient({ scheduler }), metadata(), refresh({ scheduler })], next);
      handler.request(NetworkServiceRequest.fromPartial({ connection: { id: 'c' } }), Context.background).subscribe();
      flush();
      expect(requests).toEqual([0]);
    });
  });

  it('uses the multi-segment scale for the refresh time', () => {
    marbles(({ cold, flush }, scheduler) => {
      const requests: number[] = [];
      const next: NetworkServiceHandler = {
        request: (req) =>
          defer(() => {
            requests.push(scheduler.now());
            const conn = Connection.fromPartial(req.connection as Connection);
            const exp = requests.length < 10 ? scheduler.now() + 10_000 : undefined;
            conn.path = { index: 0, pathSegments: [seg('nsc', exp), seg('nsmgr', exp), seg('fwd', exp), seg('nse', exp)] };
            return of(conn);
          }),
        close: () => of(undefined),
      };
      const handler = chain([beginClient({ scheduler }), metadata(), refresh({ scheduler })], next);
      handler.request(NetworkServiceRequest.fromPartial({ connection: { id: 'c' } }), Context.background).subscribe();
      cold('5000ms x').subscribe(() => handler.close(Connection.fromPartial({ id: 'c' }), Context.background).subscribe());
      flush();
      // NSC (index 0 of 4): 0.2 × 10 s
      expect(requests).toEqual([0, 2000, 4000]);
    });
  });
});

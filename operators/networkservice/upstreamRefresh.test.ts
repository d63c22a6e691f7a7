import { defer, EMPTY, NEVER, of, throwError, type Observable } from 'rxjs';
import { delay, tap } from 'rxjs/operators';
import { TestScheduler, type RunHelpers } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { Connection, ConnectionEventType, State, type ConnectionEvent, type PathSegment } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { ConnectionMonitor } from '../../streams/monitorConnections.js';
import { Context } from '../core/context.js';
import { unavailable } from '../core/errors.js';
import { chain, type NetworkServiceElement, type NetworkServiceHandler } from '../core/networkservice.js';
import { beginClient } from './begin/begin.js';
import { ownSegmentSelector } from './nextHop.js';
import { metadata } from './metadata.js';
import { localNotifierOf, requestRefresh, upstreamRefresh, type UpstreamRefreshOptions } from './upstreamRefresh.js';
import { marbles } from '../../test/marbles.js';

const seg = (name: string, id = `${name}-id`): PathSegment => ({ name, id, token: '', expires: undefined, metrics: {} });
/** Client connection `id` goes nsc → nsmgr → nse; the nsmgr's side of it has id `nsmgr-<id>`. */
const pathOf = (id: string) => [seg('nsc', id), seg('nsmgr', `nsmgr-${id}`), seg('nse', `nse-${id}`)];
const nsmgrView = (id: string, state: State) =>
  Connection.fromPartial({ id: `nsmgr-${id}`, networkService: 'ns', path: { index: 1, pathSegments: pathOf(id) }, state });
const { INITIAL_STATE_TRANSFER: INITIAL, UPDATE, DELETE } = ConnectionEventType;
const event = (type: ConnectionEventType, id: string, state: State): ConnectionEvent => ({ type, connections: { [`nsmgr-${id}`]: nsmgrView(id, state) } });
const EVENTS = {
  i: event(INITIAL, 'a', State.UP),
  I: event(INITIAL, 'a', State.REFRESH_REQUESTED),
  u: event(UPDATE, 'a', State.UP),
  r: event(UPDATE, 'a', State.REFRESH_REQUESTED),
  d: event(UPDATE, 'a', State.DOWN),
  x: event(DELETE, 'a', State.REFRESH_REQUESTED),
};

/**
 * chain([beginClient, metadata, upstreamRefresh, ...below, fake next]). The fake next answers at
 * once (or fails the calls `failAt` names) and takes `closeDelay` ms to Close. The monitor source
 * hands out `sources[n]` for its n-th call (later: NEVER).
 */
function setup(
  scheduler: TestScheduler,
  options: {
    failAt?: readonly number[];
    closeDelay?: number;
    sources?: readonly Observable<ConnectionEvent>[];
    element?: Partial<UpstreamRefreshOptions>;
    below?: readonly NetworkServiceElement[];
  } = {},
) {
  const requests: { at: number; id: string; state: string }[] = [];
  const closes: { at: number; id: string }[] = [];
  const watched: { at: number; conn: Connection }[] = [];
  const next: NetworkServiceHandler = {
    request: (req) =>
      defer(() => {
        const n = requests.length;
        const asked = req.connection as Connection;
        requests.push({ at: scheduler.now(), id: asked.id, state: State[asked.state] });
        if (options.failAt?.includes(n)) return throwError(() => unavailable(`request ${n} failed`));
        const conn = Connection.fromPartial(asked);
        conn.state = State.UP;
        conn.path = { index: 0, pathSegments: pathOf(conn.id) };
        return of(conn);
      }),
    close: (conn) =>
      defer(() => {
        closes.push({ at: scheduler.now(), id: conn.id });
        return options.closeDelay ? of(undefined).pipe(delay(options.closeDelay)) : of(undefined);
      }),
  };
  const element = upstreamRefresh({
    scheduler,
    monitor: (conn) => {
      const n = watched.push({ at: scheduler.now(), conn }) - 1;
      return options.sources?.[n] ?? NEVER;
    },
    ...options.element,
  });
  const begin = beginClient({ scheduler });
  const meta = metadata();
  const handler = chain([begin, meta, element, ...(options.below ?? [])], next);
  const request = (id = 'a') =>
    handler.request(NetworkServiceRequest.fromPartial({ connection: { id, networkService: 'ns', path: { index: 0, pathSegments: [seg('nsc', id)] } } }), Context.background);
  const close = (id = 'a') => handler.close(Connection.fromPartial({ id }), Context.background);
  const refresh = (id = 'a') => begin.connections.get(id)?.request() ?? EMPTY;
  const at = (helpers: RunHelpers, ms: number, fn: () => void) => helpers.cold(`${ms}ms x`).subscribe(fn);
  return { handler, begin, meta, requests, closes, watched, request, close, refresh, at };
}

const sent = (at: number, id = 'a', state = 'UP') => ({ at, id, state });

describe('upstreamRefresh (client)', () => {
  it('watches its own segment after a Request; an UPDATE with REFRESH_REQUESTED re-Requests once', () => {
    marbles((helpers, scheduler) => {
      const first = helpers.cold('--i--u--r--r', EVENTS);
      const t = setup(scheduler, { sources: [first] });
      t.request().subscribe();
      // the re-Request replaces the watch
      helpers.expectSubscriptions(first.subscriptions).toBe('^-------!');
      helpers.flush();
      expect(t.requests).toEqual([sent(0), sent(8)]);
      expect(t.closes).toEqual([]);
      expect(t.watched.map((w) => w.at)).toEqual([0, 8]);
      expect(ownSegmentSelector(t.watched[0]?.conn as Connection).pathSegments.map((s) => [s.name, s.id])).toEqual([['nsc', 'a']]);
    });
  });

  it('a REFRESH_REQUESTED already in the initial state (sent while the Request was on its way back) re-Requests', () => {
    marbles((helpers, scheduler) => {
      const t = setup(scheduler, { sources: [helpers.cold('-I', EVENTS)] });
      t.request().subscribe();
      helpers.flush();
      expect(t.requests).toEqual([sent(0), sent(1)]);
    });
  });

  it('DOWN, UP and DELETE are no requests to refresh', () => {
    marbles((helpers, scheduler) => {
      const t = setup(scheduler, { sources: [helpers.cold('-i-u-d-x|', EVENTS)] });
      t.request().subscribe();
      helpers.flush();
      expect(t.requests).toEqual([sent(0)]);
    });
  });

  it('a stream that fails ends the watch: later local signals are not heard either', () => {
    marbles((helpers, scheduler) => {
      const forA = helpers.cold('--#', EVENTS, unavailable('gone'));
      const forB = helpers.cold('-----r', { r: event(UPDATE, 'b', State.REFRESH_REQUESTED) });
      const t = setup(scheduler, { sources: [forA, forB], element: { localNotifications: true } });
      t.request('a').subscribe();
      t.request('b').subscribe();
      helpers.flush();
      // b refreshes at 5 and tells the others; a stopped listening when its stream failed at 2
      expect(t.requests).toEqual([sent(0, 'a'), sent(0, 'b'), sent(5, 'b')]);
    });
  });

  it('a failed upstream refresh is not retried here (refresh does that)', () => {
    marbles((helpers, scheduler) => {
      const t = setup(scheduler, { sources: [helpers.cold('--r', EVENTS)], failAt: [1] });
      t.request().subscribe();
      helpers.flush();
      expect(t.requests).toEqual([sent(0), sent(2)]);
      expect(t.watched.map((w) => w.at)).toEqual([0]);
    });
  });

  it('Close: news is ignored at once, the stream is dropped only after the Close returned', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('12ms r', EVENTS);
      const t = setup(scheduler, { sources: [src], closeDelay: 5 });
      t.request().subscribe();
      t.at(helpers, 10, () => t.close().subscribe());
      helpers.expectSubscriptions(src.subscriptions).toBe('^ 14ms !');
      helpers.flush();
      expect(t.requests).toEqual([sent(0)]);
      expect(t.closes).toEqual([{ at: 10, id: 'a' }]);
      expect(scheduler.actions).toHaveLength(0);
      expect(t.meta.connections.size).toBe(0);
      expect(t.begin.connections.size).toBe(0);
    });
  });
});

describe('upstreamRefresh: local notifications', () => {
  it('after a refresh requested from upstream, every other connection refreshes once', () => {
    marbles((helpers, scheduler) => {
      const t = setup(scheduler, { sources: [helpers.cold('-----r', EVENTS)], element: { localNotifications: true } });
      t.request('a').subscribe();
      t.request('b').subscribe();
      t.request('c').subscribe();
      helpers.flush();
      expect(t.requests).toEqual([sent(0, 'a'), sent(0, 'b'), sent(0, 'c'), sent(5, 'a'), sent(5, 'b'), sent(5, 'c')]);
    });
  });

  it('without the option only the connection asked refreshes', () => {
    marbles((helpers, scheduler) => {
      const t = setup(scheduler, { sources: [helpers.cold('-----r', EVENTS)] });
      t.request('a').subscribe();
      t.request('b').subscribe();
      helpers.flush();
      expect(t.requests).toEqual([sent(0, 'a'), sent(0, 'b'), sent(5, 'a')]);
    });
  });

  it('elements below get the notifier: their notify refreshes the other connections, not the caller', () => {
    marbles((helpers, scheduler) => {
      // `b`'s first Request learns something (vl3mtu: a lower MTU) that the others must pick up
      let notified = false;
      const mtu: NetworkServiceElement = {
        request: (request, ctx, next) =>
          next.request(request, ctx).pipe(
            tap((conn) => {
              if (conn.id === 'b' && !notified) {
                notified = true;
                localNotifierOf(ctx)?.notify(conn.id);
              }
            }),
          ),
      };
      const t = setup(scheduler, { element: { localNotifications: true }, below: [mtu] });
      t.request('a').subscribe();
      t.request('c').subscribe();
      t.at(helpers, 3, () => t.request('b').subscribe());
      helpers.flush();
      expect(t.requests).toEqual([sent(0, 'a'), sent(0, 'c'), sent(3, 'b'), sent(3, 'a'), sent(3, 'c')]);
    });
  });

  it('without the option nothing below gets a notifier', () => {
    marbles((_helpers, scheduler) => {
      const seen: unknown[] = [];
      const spy: NetworkServiceElement = { request: (request, ctx, next) => (seen.push(localNotifierOf(ctx)), next.request(request, ctx)) };
      const t = setup(scheduler, { below: [spy] });
      t.request().subscribe();
      expect(seen).toEqual([undefined]);
    });
  });
});

describe('upstreamRefresh against a real ConnectionMonitor (server side: requestRefresh)', () => {
  /** The next hop publishes each returned connection on `cm` (as its `monitor` element does); a Request takes `slow` ms. */
  function nextHop(scheduler: TestScheduler, cm: ConnectionMonitor, slow = 0) {
    const requests: { at: number; id: string; state: string }[] = [];
    const next: NetworkServiceHandler = {
      request: (req) =>
        defer(() => {
          const asked = req.connection as Connection;
          requests.push({ at: scheduler.now(), id: asked.id, state: State[asked.state] });
          const conn = Connection.fromPartial(asked);
          conn.state = State.UP;
          conn.path = { index: 0, pathSegments: pathOf(conn.id) };
          cm.update(nsmgrView(conn.id, State.UP));
          return slow ? of(conn).pipe(delay(slow)) : of(conn);
        }),
      close: (conn) => defer(() => (cm.delete(nsmgrView(conn.id, State.UP)), of(undefined))),
    };
    return { next, requests };
  }

  it('the endpoint marks the connection REFRESH_REQUESTED; the client refreshes once, and the store is UP again', () => {
    marbles((helpers, scheduler) => {
      const cm = new ConnectionMonitor();
      const hop = nextHop(scheduler, cm);
      const handler = chain(
        [beginClient({ scheduler }), metadata(), upstreamRefresh({ scheduler, monitor: (conn) => cm.monitorConnections(ownSegmentSelector(conn)) })],
        hop.next,
      );
      handler.request(NetworkServiceRequest.fromPartial({ connection: { id: 'a', path: { index: 0, pathSegments: [seg('nsc', 'a')] } } }), Context.background).subscribe();
      helpers.cold('10ms x').subscribe(() => requestRefresh(cm, [cm.get('nsmgr-a') as Connection]));
      helpers.cold('50ms x').subscribe(() => handler.close(Connection.fromPartial({ id: 'a' }), Context.background).subscribe());
      helpers.flush();
      expect(hop.requests).toEqual([sent(0), sent(10)]);
      expect(cm.size).toBe(0);
    });
  });

  it('a refresh requested while the Request is still on its way back is not lost', () => {
    marbles((helpers, scheduler) => {
      const cm = new ConnectionMonitor();
      const hop = nextHop(scheduler, cm, 20);
      const handler = chain(
        [beginClient({ scheduler }), metadata(), upstreamRefresh({ scheduler, monitor: (conn) => cm.monitorConnections(ownSegmentSelector(conn)) })],
        hop.next,
      );
      handler.request(NetworkServiceRequest.fromPartial({ connection: { id: 'a', path: { index: 0, pathSegments: [seg('nsc', 'a')] } } }), Context.background).subscribe();
      // the endpoint asks at 5; the client only starts watching when its Request returns at 20
      helpers.cold('5ms x').subscribe(() => requestRefresh(cm, [cm.get('nsmgr-a') as Connection]));
      helpers.cold('100ms x').subscribe(() => handler.close(Connection.fromPartial({ id: 'a' }), Context.background).subscribe());
      helpers.flush();
      expect(hop.requests).toEqual([sent(0), sent(20)]);
    });
  });

  it('requestRefresh publishes one UPDATE with every connection marked', () => {
    marbles(({ expectObservable }) => {
      const cm = new ConnectionMonitor();
      cm.update(nsmgrView('a', State.UP));
      cm.update(nsmgrView('b', State.UP));
      const all = cm.monitorConnections({ pathSegments: [], networkServices: [] });
      const seen: string[] = [];
      all.subscribe((e) => seen.push(`${ConnectionEventType[e.type]} ${Object.values(e.connections).map((c) => `${c.id}:${State[c.state]}`).join(' ')}`));
      requestRefresh(cm, [cm.get('nsmgr-a') as Connection, cm.get('nsmgr-b') as Connection]);
      requestRefresh(cm, []);
      expectObservable(of(seen)).toBe('(x|)', {
        x: ['INITIAL_STATE_TRANSFER nsmgr-a:UP nsmgr-b:UP', 'UPDATE nsmgr-a:REFRESH_REQUESTED nsmgr-b:REFRESH_REQUESTED'],
      });
      expect(cm.get('nsmgr-a')?.state).toBe(State.REFRESH_REQUESTED);
    });
  });
});

import { defer, EMPTY, NEVER, Observable, of, throwError } from 'rxjs';
import { concatMap, delay, tap } from 'rxjs/operators';
import { TestScheduler, type RunHelpers } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { Connection, ConnectionEventType, State, type ConnectionEvent, type PathSegment } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { ConnectionMonitor } from '../../streams/monitorConnections.js';
import { Context } from '../core/context.js';
import { cancelled, unavailable } from '../core/errors.js';
import { chain, type NetworkServiceElement, type NetworkServiceHandler } from '../core/networkservice.js';
import { beginClient } from './begin/begin.js';
import type { LivenessCheck } from '../../dataplane/datapath.js';
import { heal, type HealOptions } from './heal.js';
import { ownSegmentSelector } from './nextHop.js';
import { metadata } from './metadata.js';
import { marbles } from '../../test/marbles.js';

const seg = (name: string, id = `${name}-id`): PathSegment => ({ name, id, token: '', expires: undefined, metrics: {} });
const pathTo = (nse: string) => [seg('nsc', 'c'), seg('nsmgr'), seg(nse)];
const { INITIAL_STATE_TRANSFER: INITIAL, UPDATE, DELETE } = ConnectionEventType;

/** What the next hop (nsmgr, index 1) publishes about the client's connection to `nse`. */
const nsmgrEvent = (type: ConnectionEventType, state: State, nse = 'nse-1'): ConnectionEvent => ({
  type,
  connections: { 'nsmgr-id': Connection.fromPartial({ id: 'nsmgr-id', networkService: 'ns', path: { index: 1, pathSegments: pathTo(nse) }, state }) },
});
const EVENTS = {
  i: nsmgrEvent(INITIAL, State.UP),
  u: nsmgrEvent(UPDATE, State.UP),
  d: nsmgrEvent(UPDATE, State.DOWN),
  x: nsmgrEvent(DELETE, State.UP),
  D: nsmgrEvent(INITIAL, State.DOWN),
};

interface Sent {
  at: number;
  nse: string;
  state: string;
}

/**
 * chain([beginClient, metadata, heal, fake next hop]). The fake next answers at once (or fails
 * the calls `failAt` names, `failAfter` ms later), picks `nse-N` when no endpoint is asked for, and takes `closeDelay`
 * ms to Close. The monitor source hands out `sources[n]` for its n-th call (later: NEVER).
 */
function setup(
  scheduler: TestScheduler,
  options: { failAt?: readonly number[]; failAfter?: number; closeDelay?: number; sources?: readonly Observable<ConnectionEvent>[]; heal?: Partial<HealOptions>; begin?: boolean } = {},
) {
  const requests: Sent[] = [];
  const closes: number[] = [];
  const watched: { at: number; conn: Connection }[] = [];
  let picked = 0;
  const next: NetworkServiceHandler = {
    request: (req) =>
      defer(() => {
        const n = requests.length;
        const asked = req.connection as Connection;
        requests.push({ at: scheduler.now(), nse: asked.networkServiceEndpointName, state: State[asked.state] });
        if (options.failAt?.includes(n)) {
          const failure = throwError(() => unavailable(`request ${n} failed`));
          return options.failAfter ? of(undefined).pipe(delay(options.failAfter), concatMap(() => failure)) : failure;
        }
        const conn = Connection.fromPartial(asked);
        if (conn.networkServiceEndpointName === '') conn.networkServiceEndpointName = `nse-${++picked}`;
        conn.state = State.UP;
        conn.path = { index: 0, pathSegments: pathTo(conn.networkServiceEndpointName) };
        return of(conn);
      }),
    close: () =>
      defer(() => {
        closes.push(scheduler.now());
        return options.closeDelay ? of(undefined).pipe(delay(options.closeDelay)) : of(undefined);
      }),
  };
  const element = heal({
    scheduler,
    monitor: (conn) => {
      const n = watched.push({ at: scheduler.now(), conn }) - 1;
      return options.sources?.[n] ?? NEVER;
    },
    ...options.heal,
  });
  const begin = beginClient({ scheduler });
  const meta = metadata();
  const elements: NetworkServiceElement[] = options.begin === false ? [meta, element] : [begin, meta, element];
  const handler = chain(elements, next);
  const request = () => handler.request(NetworkServiceRequest.fromPartial({ connection: { id: 'c', networkService: 'ns', path: { index: 0, pathSegments: [seg('nsc', 'c')] } } }), Context.background);
  const close = () => handler.close(Connection.fromPartial({ id: 'c' }), Context.background);
  /** A re-Request through begin's event factory, as `refresh` sends it. */
  const refresh = () => begin.connections.get('c')?.request() ?? EMPTY;
  /** Runs `fn` at virtual time `at`. */
  const at = (helpers: RunHelpers, ms: number, fn: () => void) => helpers.cold(`${ms}ms x`).subscribe(fn);
  /** The endpoint begin holds now. */
  const held = () => begin.connections.get('c')?.last?.connection?.networkServiceEndpointName;
  return { handler, begin, meta, element, requests, closes, watched, request, close, refresh, at, held };
}

const req = (at: number, nse = '', state = 'UP'): Sent => ({ at, nse, state });
const reselect = (at: number): Sent => ({ at, nse: '', state: 'RESELECT_REQUESTED' });

/** A liveness check answering `answers[n]` to its n-th probe (later: the last one), recording when. */
function liveness(scheduler: TestScheduler, ...answers: Observable<boolean>[]): { check: LivenessCheck; probes: number[] } {
  const probes: number[] = [];
  const check: LivenessCheck = () =>
    defer(() => {
      const n = probes.push(scheduler.now()) - 1;
      return answers[Math.min(n, answers.length - 1)] as Observable<boolean>;
    });
  return { check, probes };
}

describe('heal: control-plane trigger', () => {
  it('watches its own segment after a Request; unchanged news is no reason to heal', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('--i--u', EVENTS);
      const t = setup(scheduler, { sources: [src] });
      t.request().subscribe();
      helpers.expectSubscriptions(src.subscriptions).toBe('^');
      helpers.flush();
      expect(t.requests).toEqual([req(0)]);
      expect(t.watched).toHaveLength(1);
      expect(ownSegmentSelector(t.watched[0]?.conn as Connection).pathSegments.map((s) => [s.name, s.id])).toEqual([['nsc', 'c']]);
      expect(t.watched[0]?.conn.networkServiceEndpointName).toBe('nse-1');
    });
  });

  it('DOWN → reselect: Close, forget the endpoint, Request; then watch the new connection', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('--i--u---d', EVENTS);
      const t = setup(scheduler, { sources: [src] });
      t.request().subscribe();
      // the old stream goes once the reselect's Close returned
      helpers.expectSubscriptions(src.subscriptions).toBe('^--------!');
      helpers.flush();
      expect(t.requests).toEqual([req(0), reselect(9)]);
      expect(t.closes).toEqual([9]);
      expect(t.held()).toBe('nse-2');
      expect(t.watched.map((w) => [w.at, w.conn.networkServiceEndpointName])).toEqual([
        [0, 'nse-1'],
        [9, 'nse-2'],
      ]);
      expect(t.element.healing.size).toBe(0);
    });
  });

  it('DELETE → reselect (once, though the pinned stream then ends)', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('--i--x|', EVENTS);
      const t = setup(scheduler, { sources: [src] });
      t.request().subscribe();
      helpers.flush();
      expect(t.requests).toEqual([req(0), reselect(5)]);
      expect(t.closes).toEqual([5]);
    });
  });

  it('an initial state that reports DOWN heals at once', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('-D', EVENTS);
      const t = setup(scheduler, { sources: [src] });
      t.request().subscribe();
      helpers.flush();
      expect(t.requests).toEqual([req(0), reselect(1)]);
    });
  });

  it('stream error (next hop died) → reselect', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('--i----#', EVENTS, unavailable('nsmgr gone'));
      const t = setup(scheduler, { sources: [src] });
      t.request().subscribe();
      helpers.flush();
      expect(t.requests).toEqual([req(0), reselect(7)]);
      expect(t.closes).toEqual([7]);
      expect(t.held()).toBe('nse-2');
    });
  });

  it('stream that just ends → reselect', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('--i--|', EVENTS);
      const t = setup(scheduler, { sources: [src] });
      t.request().subscribe();
      helpers.flush();
      expect(t.requests).toEqual([req(0), reselect(5)]);
    });
  });

  it('stream CANCELLED → nothing at all, not even liveness probes', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('--i--#', EVENTS, cancelled('closed by client'));
      const live = liveness(scheduler, of(false));
      const t = setup(scheduler, { sources: [src], heal: { livenessCheck: live.check } });
      t.request().subscribe();
      t.at(helpers, 1000, () => t.close().subscribe());
      helpers.flush();
      expect(t.requests).toEqual([req(0)]);
      expect(t.closes).toEqual([1000]);
      expect(live.probes).toEqual([]);
    });
  });

  it('no begin (no event factory) → nothing is watched', () => {
    marbles((_helpers, scheduler) => {
      const t = setup(scheduler, { begin: false });
      t.request().subscribe();
      expect(t.watched).toEqual([]);
    });
  });

  it('no next hop to watch (source undefined) → no watch and no probes', () => {
    marbles((helpers, scheduler) => {
      const live = liveness(scheduler, of(false));
      const t = setup(scheduler, { heal: { livenessCheck: live.check, monitor: () => undefined } });
      t.request().subscribe();
      helpers.flush();
      expect(t.requests).toEqual([req(0)]);
      expect(live.probes).toEqual([]);
      expect(scheduler.actions).toHaveLength(0);
    });
  });
});

describe('heal: with a liveness check', () => {
  it('control plane down, data plane alive → plain re-Request to the same endpoint', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('-----d', EVENTS);
      const live = liveness(scheduler, of(true));
      const t = setup(scheduler, { sources: [src], heal: { livenessCheck: live.check } });
      t.request().subscribe();
      t.at(helpers, 1000, () => t.close().subscribe());
      helpers.flush();
      expect(t.requests).toEqual([req(0), req(5, 'nse-1')]);
      expect(t.closes).toEqual([1000]);
      // the probe at 5 decided; the new watch probes every 200 ms from 5 until the Close
      expect(live.probes).toEqual([5, 205, 405, 605, 805]);
    });
  });

  it('control plane down, data plane dead → reselect', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('-----d', EVENTS);
      const live = liveness(scheduler, of(false));
      const t = setup(scheduler, { sources: [src], heal: { livenessCheck: live.check } });
      t.request().subscribe();
      t.at(helpers, 100, () => t.close().subscribe());
      helpers.flush();
      expect(t.requests).toEqual([req(0), reselect(5)]);
      expect(t.closes).toEqual([5, 100]);
      expect(live.probes).toEqual([5]);
    });
  });

  it('a check that does not answer within 100 ms counts as dead (and is cancelled)', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('-----d', EVENTS);
      const silent = helpers.cold<boolean>('-');
      const live = liveness(scheduler, silent, of(true));
      const t = setup(scheduler, { sources: [src], heal: { livenessCheck: live.check } });
      t.request().subscribe();
      helpers.expectSubscriptions(silent.subscriptions).toBe('-----^ 99ms !');
      t.at(helpers, 150, () => t.close().subscribe());
      helpers.flush();
      expect(t.requests).toEqual([req(0), reselect(105)]);
    });
  });

  it('periodic check says dead → reselect, without any control-plane news', () => {
    marbles((helpers, scheduler) => {
      const live = liveness(scheduler, of(true), of(true), of(false), of(true));
      const t = setup(scheduler, { heal: { livenessCheck: live.check } });
      t.request().subscribe();
      t.at(helpers, 700, () => t.close().subscribe());
      helpers.flush();
      expect(live.probes).toEqual([200, 400, 600]);
      expect(t.requests).toEqual([req(0), reselect(600)]);
      expect(t.closes).toEqual([600, 700]);
    });
  });

  it('honours livenessInterval', () => {
    marbles((helpers, scheduler) => {
      const live = liveness(scheduler, of(true));
      const t = setup(scheduler, { heal: { livenessCheck: live.check, livenessInterval: 50 } });
      t.request().subscribe();
      t.at(helpers, 175, () => t.close().subscribe());
      helpers.flush();
      expect(live.probes).toEqual([50, 100, 150]);
      expect(t.requests).toEqual([req(0)]);
    });
  });
});

describe('heal: retries', () => {
  it('a failed heal is retried at once (upstream: no pause between tries) until one succeeds', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('-----d', EVENTS);
      const t = setup(scheduler, { sources: [src], failAt: [1, 2] });
      t.request().subscribe();
      helpers.flush();
      expect(t.requests).toEqual([req(0), reselect(5), reselect(5), reselect(5)]);
      // each reselect try Closes the old connection first (best effort), as upstream does
      expect(t.closes).toEqual([5, 5, 5]);
      // failed tries start no watch of their own; the success does
      expect(t.watched.map((w) => w.at)).toEqual([0, 5]);
      expect(t.held()).toBe('nse-2');
      expect(t.element.healing.size).toBe(0);
    });
  });

  it('a try that takes time to fail is followed by the next one the moment it fails', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('-----d', EVENTS);
      const t = setup(scheduler, { sources: [src], failAt: [1, 2], failAfter: 30 });
      t.request().subscribe();
      helpers.flush();
      expect(t.requests).toEqual([req(0), reselect(5), reselect(35), reselect(65)]);
      expect(t.held()).toBe('nse-2');
    });
  });

  it('a plain re-Request that fails is retried with a fresh probe each time', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('-----d', EVENTS);
      const live = liveness(scheduler, of(true));
      const t = setup(scheduler, { sources: [src], failAt: [1], failAfter: 30, heal: { livenessCheck: live.check } });
      t.request().subscribe();
      t.at(helpers, 300, () => t.close().subscribe());
      helpers.flush();
      expect(t.requests).toEqual([req(0), req(5, 'nse-1'), req(35, 'nse-1')]);
      expect(live.probes.slice(0, 2)).toEqual([5, 35]);
      expect(t.closes).toEqual([300]);
    });
  });

  it('a caller Request that succeeds ends the heal loop', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('-----d', EVENTS);
      const t = setup(scheduler, { sources: [src], failAt: [1, 2, 3, 4], failAfter: 30 });
      t.request().subscribe();
      // queued in begin behind the heal try that fails at 125; it succeeds and the loop ends
      t.at(helpers, 100, () => t.request().subscribe());
      helpers.flush();
      expect(t.requests.map((r) => r.at)).toEqual([0, 5, 35, 65, 95, 125]);
      expect(t.element.healing.size).toBe(0);
    });
  });
});

describe('heal: Close', () => {
  it('Close during a failing try stops the loop once that try failed: no further Request, no timer left', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('-----d', EVENTS);
      const t = setup(scheduler, { sources: [src], failAt: [1, 2, 3, 4, 5], failAfter: 30 });
      t.request().subscribe();
      t.at(helpers, 50, () => t.close().subscribe());
      t.at(helpers, 66, () => expect(scheduler.actions).toHaveLength(0));
      helpers.flush();
      expect(t.requests).toEqual([req(0), reselect(5), reselect(35)]);
      expect(t.closes).toEqual([5, 35, 65]);
      expect(t.element.healing.size).toBe(0);
      expect(t.begin.connections.size).toBe(0);
      expect(t.meta.connections.size).toBe(0);
    });
  });

  it('Close during a failing try of a plain (probed) heal leaves no timer either', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('-----d', EVENTS);
      const live = liveness(scheduler, of(true));
      const t = setup(scheduler, { sources: [src], failAt: [1, 2, 3, 4, 5], failAfter: 30, heal: { livenessCheck: live.check } });
      t.request().subscribe();
      t.at(helpers, 50, () => t.close().subscribe());
      t.at(helpers, 66, () => expect(scheduler.actions).toHaveLength(0));
      helpers.flush();
      expect(t.requests).toEqual([req(0), req(5, 'nse-1'), req(35, 'nse-1')]);
      expect(live.probes).toEqual([5, 35]);
      expect(t.element.healing.size).toBe(0);
    });
  });

  it('Close stops probes at once, ignores news meanwhile, and drops the stream only after the Close returned', () => {
    marbles((helpers, scheduler) => {
      // DOWN at 255 arrives while the Close (250 → 260) runs
      const src = helpers.cold('255ms d', EVENTS);
      const live = liveness(scheduler, of(true));
      const t = setup(scheduler, { sources: [src], closeDelay: 10, heal: { livenessCheck: live.check } });
      t.request().subscribe();
      t.at(helpers, 250, () => t.close().subscribe());
      t.at(helpers, 261, () => expect(scheduler.actions).toHaveLength(0));
      helpers.expectSubscriptions(src.subscriptions).toBe('^ 259ms !');
      helpers.flush();
      expect(t.requests).toEqual([req(0)]);
      expect(t.closes).toEqual([250]);
      expect(live.probes).toEqual([200]);
      expect(t.meta.connections.size).toBe(0);
    });
  });

  it('a stream the server ends after its DELETE is not taken for a loss while closing', () => {
    marbles((helpers, scheduler) => {
      const src = helpers.cold('52ms x|', EVENTS);
      const t = setup(scheduler, { sources: [src], closeDelay: 5 });
      t.request().subscribe();
      t.at(helpers, 50, () => t.close().subscribe());
      helpers.flush();
      expect(t.requests).toEqual([req(0)]);
      expect(t.closes).toEqual([50]);
    });
  });
});

describe('heal: refresh', () => {
  it('a failed refresh watches the old connection again, so a later DOWN still heals', () => {
    marbles((helpers, scheduler) => {
      const first = helpers.cold('-', EVENTS);
      const second = helpers.cold('-----d', EVENTS);
      const t = setup(scheduler, { sources: [first, second], failAt: [1] });
      t.request().subscribe();
      t.at(helpers, 10, () => t.refresh().subscribe({ error: () => undefined }));
      // a Request first drops the watch it replaces
      helpers.expectSubscriptions(first.subscriptions).toBe('^---------!');
      helpers.flush();
      expect(t.watched.map((w) => [w.at, w.conn.networkServiceEndpointName])).toEqual([
        [0, 'nse-1'],
        [10, 'nse-1'],
        [15, 'nse-2'],
      ]);
      expect(t.requests).toEqual([req(0), req(10, 'nse-1'), reselect(15)]);
    });
  });

  it('the DOWN the next hop published for a failed refresh arrives as initial state and heals', () => {
    marbles((helpers, scheduler) => {
      const second = helpers.cold('-D', EVENTS);
      const t = setup(scheduler, { sources: [NEVER, second], failAt: [1] });
      t.request().subscribe();
      t.at(helpers, 10, () => t.refresh().subscribe({ error: () => undefined }));
      helpers.flush();
      expect(t.requests).toEqual([req(0), req(10, 'nse-1'), reselect(11)]);
    });
  });

  it('a successful refresh watches the connection it returned', () => {
    marbles((helpers, scheduler) => {
      const first = helpers.cold('-', EVENTS);
      const t = setup(scheduler, { sources: [first] });
      t.request().subscribe();
      t.at(helpers, 10, () => t.refresh().subscribe());
      helpers.expectSubscriptions(first.subscriptions).toBe('^---------!');
      helpers.flush();
      expect(t.watched.map((w) => w.at)).toEqual([0, 10]);
      expect(t.requests).toEqual([req(0), req(10, 'nse-1')]);
    });
  });

  it('a failed first Request watches nothing', () => {
    marbles((helpers, scheduler) => {
      const t = setup(scheduler, { failAt: [0] });
      t.request().subscribe({ error: () => undefined });
      helpers.flush();
      expect(t.watched).toEqual([]);
      expect(t.meta.connections.size).toBe(0);
    });
  });
});

describe('heal against a real ConnectionMonitor (the next hop’s store)', () => {
  /** The next hop publishes UPDATE after each Request and DELETE after each Close, as `monitor` does. */
  function nextHop(scheduler: TestScheduler, cm: ConnectionMonitor) {
    const requests: Sent[] = [];
    let picked = 0;
    const view = (conn: Connection) =>
      Connection.fromPartial({ id: 'nsmgr-id', networkService: 'ns', path: { index: 1, pathSegments: conn.path?.pathSegments ?? [] }, state: State.UP });
    const next: NetworkServiceHandler = {
      request: (req) =>
        defer(() => {
          const asked = req.connection as Connection;
          requests.push({ at: scheduler.now(), nse: asked.networkServiceEndpointName, state: State[asked.state] });
          const conn = Connection.fromPartial(asked);
          if (conn.networkServiceEndpointName === '') conn.networkServiceEndpointName = `nse-${++picked}`;
          conn.state = State.UP;
          conn.path = { index: 0, pathSegments: pathTo(conn.networkServiceEndpointName) };
          cm.update(view(conn));
          return of(conn);
        }),
      close: (conn) =>
        defer(() => {
          cm.delete(view(conn));
          return of(undefined);
        }),
    };
    return { next, requests, view };
  }

  // Guards begin: a reselect's Close must finish (metadata's clean-up included) before the new
  // Request sets up its watch, refresh loop and channel.
  it('after a reselect the new watch heals again; the server ends each stream after its DELETE, nothing is cancelled', () => {
    marbles((helpers, scheduler) => {
      const cm = new ConnectionMonitor();
      const hop = nextHop(scheduler, cm);
      const ends: string[] = [];
      const source = (conn: Connection) =>
        cm.monitorConnections(ownSegmentSelector(conn)).pipe(
          tap({ complete: () => ends.push(`ended@${scheduler.now()}`), error: () => ends.push('error'), unsubscribe: () => ends.push(`cancelled@${scheduler.now()}`) }),
        );
      const begin = beginClient({ scheduler });
      const handler = chain([begin, metadata(), heal({ scheduler, monitor: source })], hop.next);
      const request = NetworkServiceRequest.fromPartial({ connection: { id: 'c', networkService: 'ns', path: { index: 0, pathSegments: [seg('nsc', 'c')] } } });
      handler.request(request, Context.background).subscribe();
      const down = () => cm.update({ ...(cm.get('nsmgr-id') as Connection), state: State.DOWN });
      helpers.cold('10ms x').subscribe(down);
      helpers.cold('30ms x').subscribe(down);
      helpers.cold('50ms x').subscribe(() => handler.close(Connection.fromPartial({ id: 'c' }), Context.background).subscribe());
      helpers.flush();
      expect(hop.requests).toEqual([req(0), reselect(10), reselect(30)]);
      // each reselect's Close and the final Close got a DELETE that ended the stream server-side
      expect(ends).toEqual(['ended@10', 'ended@30', 'ended@50']);
      expect(cm.size).toBe(0);
    });
  });
});

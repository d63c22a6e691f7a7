import { defer, NEVER, Observable, of, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { Connection, type PathSegment } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import {
  NetworkService,
  NetworkServiceEndpoint,
  type NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
  type NetworkServiceQuery,
  type NetworkServiceResponse,
} from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { unavailable } from '../core/errors.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { msToTimestamp } from '../core/path.js';
import { registryChain, type NSEHandler, type NSHandler } from '../core/registry.js';
import { beginServer } from './begin/begin.js';
import { metadata } from './metadata.js';
import { netsvcMonitor } from './netsvcMonitor.js';
import { marbles } from '../../test/marbles.js';

/** The service selects endpoints whose labels for it have `color`. */
const nsColored = (color: string): NetworkServiceResponse => ({
  networkService: NetworkService.fromPartial({ name: 'ns', matches: [{ routes: [{ destinationSelector: { color } }] }] }),
  deleted: false,
});
const V = { r: nsColored('red'), b: nsColored('blue'), u: nsColored('{{.app}}') };
const redNse: NetworkServiceEndpointResponse = {
  networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name: 'nse-1', networkServiceNames: ['ns'], networkServiceLabels: { ns: { labels: { color: 'red' } } } }),
  deleted: false,
};

const seg = (name: string, expiresAt?: number): PathSegment => ({
  name,
  id: `${name}-id`,
  token: '',
  expires: expiresAt === undefined ? undefined : msToTimestamp(expiresAt),
  metrics: {},
});

interface SetupOptions {
  /** The n-th NS Find (a watch). */
  watch: (n: number) => Observable<NetworkServiceResponse>;
  /** The n-th NSE Find (default: the red nse-1). */
  nseFind?: (n: number) => Observable<NetworkServiceEndpointResponse>;
  /** What the connection returned by the chain looks like. */
  conn?: Partial<Connection>;
  /** The n-th Request downstream fails. */
  failAt?: number[];
  /** Runs when a Close reaches the end of the chain. */
  onClose?: () => void;
}

/** chain([beginServer, metadata, netsvcMonitor, fake next]) with in-memory registries. */
function setup(scheduler: TestScheduler, options: SetupOptions) {
  const nsFinds: { at: number; query: NetworkServiceQuery; ctx: Context }[] = [];
  const nseFinds: { at: number; query: NetworkServiceEndpointQuery }[] = [];
  const ns: NSHandler = registryChain([
    { find: (query, ctx) => defer(() => options.watch(nsFinds.push({ at: scheduler.now(), query, ctx }) - 1)) },
  ]);
  const nse: NSEHandler = registryChain([
    { find: (query) => defer(() => (options.nseFind ?? (() => of(redNse)))(nseFinds.push({ at: scheduler.now(), query }) - 1)) },
  ]);
  const requests: number[] = [];
  const closes: number[] = [];
  const next: NetworkServiceHandler = {
    request: (r) =>
      defer(() => {
        const n = requests.push(scheduler.now()) - 1;
        if (options.failAt?.includes(n)) return throwError(() => unavailable(`request ${n} failed`));
        return of(Connection.fromPartial({ ...r.connection, networkServiceEndpointName: 'nse-1', labels: { app: 'red' }, ...options.conn }));
      }),
    close: () => defer(() => (closes.push(scheduler.now()), options.onClose?.(), of(undefined))),
  };
  const begin = beginServer({ scheduler });
  const meta = metadata();
  const handler = chain([begin, meta, netsvcMonitor({ ns, nse, scheduler })], next);
  const request = (ctx = Context.background) =>
    handler.request(NetworkServiceRequest.fromPartial({ connection: { id: 'c', networkService: 'ns' } }), ctx).subscribe({ error: () => undefined });
  const close = () => handler.close(Connection.fromPartial({ id: 'c' }), Context.background).subscribe();
  return { begin, meta, requests, closes, nsFinds, nseFinds, request, close };
}

describe('netsvcMonitor', () => {
  it('closes the connection through begin when the service no longer selects its endpoint', () => {
    marbles(({ cold, expectSubscriptions, flush }, scheduler) => {
      const watch = cold('r---b', V);
      const t = setup(scheduler, { watch: () => watch });
      t.request();
      flush();
      expect(t.closes).toEqual([4]);
      expectSubscriptions(watch.subscriptions).toBe('^---!');
      // the endpoint was looked up once per version, by name, one-shot
      expect(t.nseFinds.map((f) => f.at)).toEqual([0, 4]);
      expect(t.nseFinds[0]?.query).toEqual({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name: 'nse-1' }), watch: false });
      expect(t.begin.connections.size).toBe(0);
      expect(t.meta.connections.size).toBe(0);
    });
  });

  it('watches the service by name, with no deadline, while it still matches; Close ends the watch', () => {
    marbles(({ cold, expectSubscriptions, flush }, scheduler) => {
      const watch = cold('r--r--u', V);
      // by the time the Close goes downstream the watch is already gone
      const atClose: number[] = [];
      const t = setup(scheduler, { watch: () => watch, onClose: () => atClose.push(...watch.subscriptions.map((s) => s.unsubscribedFrame)) });
      t.request(Context.background.withDeadline(50));
      cold('----------x').subscribe(() => t.close());
      flush();
      expect(t.closes).toEqual([10]);
      expect(atClose).toEqual([10]);
      expectSubscriptions(watch.subscriptions).toBe('^---------!');
      expect(t.nsFinds).toHaveLength(1);
      expect(t.nsFinds[0]?.query).toEqual({ networkService: NetworkService.fromPartial({ name: 'ns' }), watch: true });
      expect(t.nsFinds[0]?.ctx.deadline).toBeUndefined();
      // the templated selector {{.app}} renders "red" from the connection labels: still matches
      expect(t.nseFinds.map((f) => f.at)).toEqual([0, 3, 6]);
      expect(scheduler.actions).toHaveLength(0);
    });
  });

  it('the current version already excludes the endpoint: Close right after the Request', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { watch: () => cold('b', V) });
      t.request();
      flush();
      expect(t.requests).toEqual([0]);
      expect(t.closes).toEqual([0]);
      expect(t.begin.connections.size).toBe(0);
    });
  });

  it('the endpoint is not registered (any more): nothing is closed', () => {
    marbles(({ cold, expectSubscriptions, flush }, scheduler) => {
      const watch = cold('r---b', V);
      const t = setup(scheduler, { watch: () => watch, nseFind: () => of() });
      t.request();
      cold('--------x').subscribe(() => t.close());
      flush();
      expect(t.closes).toEqual([8]);
      expectSubscriptions(watch.subscriptions).toBe('^-------!');
    });
  });

  it('a failed endpoint lookup skips that version; the watch goes on', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, {
        watch: () => cold('b---b', V),
        nseFind: (n) => (n === 0 ? throwError(() => unavailable('registry down')) : of(redNse)),
      });
      t.request();
      flush();
      expect(t.closes).toEqual([4]);
    });
  });

  it('a watch that ends or breaks is opened again 100 ms later', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, {
        // 0: ends at 1 → again at 101; 1: breaks at 106 → again at 206; the Close at 250 stops it
        watch: (n) => (n === 0 ? cold('r|', V) : n === 1 ? cold('-----#', V, unavailable('lost')) : cold('r-----|', V)),
      });
      t.request();
      cold('250ms x').subscribe(() => t.close());
      flush();
      expect(t.nsFinds.map((f) => f.at)).toEqual([0, 101, 206]);
      expect(t.closes).toEqual([250]);
      expect(scheduler.actions).toHaveLength(0);
    });
  });

  it('the watch ends at the earliest token expiry of the returned path', () => {
    marbles(({ cold, expectSubscriptions, flush }, scheduler) => {
      const watch = cold('r', V);
      const t = setup(scheduler, { watch: () => watch, conn: { path: { index: 1, pathSegments: [seg('nsc', 900), seg('nsmgr', 500), seg('fwd')] } } });
      t.request();
      flush();
      expectSubscriptions(watch.subscriptions).toBe('^ 499ms !');
      expect(t.closes).toEqual([]);
    });
  });

  it('a later Request re-arms: the old watch is dropped before it goes down, a new one starts', () => {
    marbles(({ cold, flush }, scheduler) => {
      const watches = [cold('r', V), cold('r', V)];
      const t = setup(scheduler, { watch: (n) => watches[n] ?? NEVER });
      t.request();
      cold('-----x').subscribe(() => t.request());
      cold('---------x').subscribe(() => t.close());
      flush();
      expect(watches[0]?.subscriptions.map((s) => [s.subscribedFrame, s.unsubscribedFrame])).toEqual([[0, 5]]);
      expect(watches[1]?.subscriptions.map((s) => [s.subscribedFrame, s.unsubscribedFrame])).toEqual([[5, 9]]);
    });
  });

  it('a failed re-Request leaves no watch behind', () => {
    marbles(({ cold, flush }, scheduler) => {
      const watch = cold('r', V);
      const t = setup(scheduler, { watch: () => watch, failAt: [1] });
      t.request();
      cold('-----x').subscribe(() => t.request());
      flush();
      expect(watch.subscriptions.map((s) => [s.subscribedFrame, s.unsubscribedFrame])).toEqual([[0, 5]]);
      expect(t.nsFinds).toHaveLength(1);
    });
  });

  it('a connection without an endpoint name is not watched', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { watch: () => cold('b', V), conn: { networkServiceEndpointName: '' } });
      t.request();
      flush();
      expect(t.nsFinds).toHaveLength(0);
      expect(t.closes).toEqual([]);
    });
  });
});

import { status } from '../core/status.js';
import { defer, EMPTY, firstValueFrom, lastValueFrom, Observable, of, throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
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
import { NsmError, unavailable } from '../core/errors.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { msToTimestamp } from '../core/path.js';
import { registryChain, type NSEHandler, type NSHandler } from '../core/registry.js';
import { matchNetworkService, matchNetworkServiceEndpoint } from '../registry/matching.js';
import { parseNsmUrl, unixUrl } from '../tools/nsmUrl.js';
import { clientUrlKey, clientUrlOf } from './clientUrl.js';
import { candidatesOf, discover } from './discover.js';
import { marbles } from '../../test/marbles.js';
import { fakeViews } from '../../test/fakeViews.js';

/** A clock stuck at `now` (ms). */
const clock = (now: number) => ({ now: () => now, schedule: () => { throw new Error('not used'); } }) as never;

const service = (name: string, extra: Partial<NetworkService> = {}) => NetworkService.fromPartial({ name, payload: 'IP', ...extra });
const endpoint = (name: string, extra: Partial<NetworkServiceEndpoint> = {}) =>
  NetworkServiceEndpoint.fromPartial({ name, networkServiceNames: ['ns'], url: `unix:///${name}.sock`, ...extra });

/**
 * In-memory registries built from registryChain: Find answers the stored items the query
 * matches (upstream matchutils), at once, or through `delay` (a cold observable's timing).
 */
function fakeRegistry(
  services: NetworkService[],
  endpoints: NetworkServiceEndpoint[],
  options: { nsFind?: () => Observable<unknown>; nseFind?: () => Observable<unknown> } = {},
) {
  const nsQueries: { query: NetworkServiceQuery; ctx: Context }[] = [];
  const nseQueries: { query: NetworkServiceEndpointQuery; ctx: Context }[] = [];
  const after = <T>(gate: (() => Observable<unknown>) | undefined, items: T[]): Observable<T> =>
    gate === undefined ? of(...items) : new Observable<T>((sub) => gate().subscribe({ complete: () => (items.forEach((i) => sub.next(i)), sub.complete()), error: (e) => sub.error(e) }));
  const ns: NSHandler = registryChain([
    {
      find: (query, ctx) =>
        defer(() => {
          nsQueries.push({ query, ctx });
          const found = services.filter((s) => matchNetworkService(query.networkService, s));
          return after<NetworkServiceResponse>(options.nsFind, found.map((s) => ({ networkService: s, deleted: false })));
        }),
    },
  ]);
  const nse: NSEHandler = registryChain([
    {
      find: (query, ctx) =>
        defer(() => {
          nseQueries.push({ query, ctx });
          const found = endpoints.filter((e) => matchNetworkServiceEndpoint(query.networkServiceEndpoint, e));
          return after<NetworkServiceEndpointResponse>(options.nseFind, found.map((e) => ({ networkServiceEndpoint: e, deleted: false })));
        }),
    },
  ]);
  return { ns, nse, nsQueries, nseQueries };
}

/** The end of the chain: records what reached it (request, URL, candidates). */
function recorder() {
  const seen: { request: NetworkServiceRequest; url?: string; candidates?: string[]; payload?: string }[] = [];
  const closes: { conn: Connection; url?: string }[] = [];
  const next: NetworkServiceHandler = {
    request: (request, ctx) =>
      defer(() => {
        seen.push({
          request,
          url: clientUrlOf(ctx)?.href,
          candidates: candidatesOf(ctx)?.endpoints.map((e) => e.name),
          payload: request.connection?.payload,
        });
        return of(Connection.fromPartial(request.connection as Connection));
      }),
    close: (conn, ctx) =>
      defer(() => {
        closes.push({ conn, url: clientUrlOf(ctx)?.href });
        return of(undefined);
      }),
  };
  return { next, seen, closes };
}

const req = (conn: Partial<Connection> = {}) => NetworkServiceRequest.fromPartial({ connection: { id: 'c1', networkService: 'ns', ...conn } });

describe('discover: Request', () => {
  it('does nothing when a client URL is already in the context', async () => {
    const reg = fakeRegistry([service('ns')], [endpoint('nse-1')]);
    const rec = recorder();
    const handler = chain([discover({ ns: reg.ns, nse: reg.nse })], rec.next);
    await lastValueFrom(handler.request(req({ networkServiceEndpointName: 'nse-1' }), Context.background.with(clientUrlKey, unixUrl('/fixed.sock'))));
    expect(reg.nsQueries).toHaveLength(0);
    expect(reg.nseQueries).toHaveLength(0);
    expect(rec.seen[0]?.url).toBe('unix:///fixed.sock');
  });

  it('a named endpoint: Find by name (one-shot, with the call context), its URL into the context', async () => {
    const reg = fakeRegistry([service('ns')], [endpoint('nse-1'), endpoint('nse-2', { url: 'tcp://10.0.0.2:5001' })]);
    const rec = recorder();
    const handler = chain([discover({ ns: reg.ns, nse: reg.nse })], rec.next);
    const ctx = Context.background.withDeadline(1234);
    await lastValueFrom(handler.request(req({ networkServiceEndpointName: 'nse-2' }), ctx));
    expect(reg.nsQueries).toHaveLength(0);
    expect(reg.nseQueries).toHaveLength(1);
    expect(reg.nseQueries[0]?.query.watch).toBe(false);
    expect(reg.nseQueries[0]?.query.networkServiceEndpoint).toEqual(NetworkServiceEndpoint.fromPartial({ name: 'nse-2' }));
    expect(reg.nseQueries[0]?.ctx.deadline).toBe(1234);
    expect(rec.seen[0]?.url).toBe('tcp://10.0.0.2:5001');
    expect(rec.seen[0]?.candidates).toBeUndefined();
  });

  it('a named endpoint that is not registered: NOT_FOUND naming it, next is not called', async () => {
    const reg = fakeRegistry([service('ns')], [endpoint('nse-1')]);
    const rec = recorder();
    const handler = chain([discover({ ns: reg.ns, nse: reg.nse })], rec.next);
    const err = await lastValueFrom(handler.request(req({ networkServiceEndpointName: 'gone' }), Context.background)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NsmError);
    expect((err as NsmError).code).toBe(status.NOT_FOUND);
    expect((err as NsmError).message).toContain('"gone"');
    expect(rec.seen).toHaveLength(0);
  });

  it('a network service that is not registered: NOT_FOUND naming it', async () => {
    const reg = fakeRegistry([service('other')], [endpoint('nse-1')]);
    const rec = recorder();
    const handler = chain([discover({ ns: reg.ns, nse: reg.nse })], rec.next);
    const err = (await lastValueFrom(handler.request(req(), Context.background)).catch((e: unknown) => e)) as NsmError;
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.message).toMatch(/network service "ns" is not found/);
    expect(reg.nseQueries).toHaveLength(0);
    expect(rec.seen).toHaveLength(0);
  });

  it('queries the service by name and payload, then its endpoints by service name', async () => {
    const reg = fakeRegistry([service('ns', { payload: 'ETHERNET' })], [endpoint('nse-1')]);
    const rec = recorder();
    const handler = chain([discover({ ns: reg.ns, nse: reg.nse })], rec.next);
    // the request asks for payload IP: the service carries ETHERNET, so the registry finds nothing
    const err = (await lastValueFrom(handler.request(req({ payload: 'IP' }), Context.background)).catch((e: unknown) => e)) as NsmError;
    expect(err.code).toBe(status.NOT_FOUND);
    expect(reg.nsQueries[0]?.query).toEqual({ networkService: NetworkService.fromPartial({ name: 'ns', payload: 'IP' }), watch: false });
    await lastValueFrom(handler.request(req(), Context.background));
    expect(reg.nseQueries[0]?.query).toEqual({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ networkServiceNames: ['ns'] }), watch: false });
  });

  it('drops expired endpoints (scheduler time), copies the payload, hands the candidates on a copy of the request', async () => {
    const reg = fakeRegistry(
      [service('ns', { payload: 'ETHERNET' })],
      [
        endpoint('old', { expirationTime: msToTimestamp(5000) }),
        endpoint('live', { expirationTime: msToTimestamp(5001) }),
        endpoint('forever'),
        endpoint('other-service', { networkServiceNames: ['x'] }),
      ],
    );
    const rec = recorder();
    const handler = chain([discover({ ns: reg.ns, nse: reg.nse, scheduler: clock(5000) })], rec.next);
    const request = req();
    await lastValueFrom(handler.request(request, Context.background));
    expect(rec.seen[0]?.candidates).toEqual(['live', 'forever']);
    expect(rec.seen[0]?.payload).toBe('ETHERNET');
    expect(rec.seen[0]?.url).toBeUndefined();
    expect(request.connection?.payload).toBe('ETHERNET');
    expect(rec.seen[0]?.request).not.toBe(request);
  });

  it('selects endpoints with the service matches and the request labels (templates over the labels)', async () => {
    const ns = service('ns', {
      matches: [
        {
          sourceSelector: { app: 'firewall' },
          routes: [{ destinationSelector: { node: '{{.nodeName}}' }, weight: 0 }],
          fallthrough: false,
          metadata: undefined,
        },
        { sourceSelector: {}, routes: [{ destinationSelector: { role: 'default' }, weight: 0 }], fallthrough: false, metadata: undefined },
      ],
    });
    const labelled = (name: string, labels: Record<string, string>) => endpoint(name, { networkServiceLabels: { ns: { labels } } });
    const reg = fakeRegistry([ns], [labelled('a', { node: 'n1' }), labelled('b', { node: 'n2' }), labelled('c', { role: 'default' })]);
    const rec = recorder();
    const handler = chain([discover({ ns: reg.ns, nse: reg.nse })], rec.next);
    await lastValueFrom(handler.request(req({ labels: { app: 'firewall', nodeName: 'n2' } }), Context.background));
    await lastValueFrom(handler.request(req({ labels: { app: 'web' } }), Context.background));
    expect(rec.seen.map((s) => s.candidates)).toEqual([['b'], ['c']]);
  });

  it('no endpoint matches: NOT_FOUND with a clear message, next is not called, payload untouched', async () => {
    const ns = service('ns', {
      payload: 'ETHERNET',
      matches: [{ sourceSelector: {}, routes: [{ destinationSelector: { color: 'red' }, weight: 0 }], fallthrough: false, metadata: undefined }],
    });
    const reg = fakeRegistry([ns], [endpoint('blue', { networkServiceLabels: { ns: { labels: { color: 'blue' } } } })]);
    const rec = recorder();
    const handler = chain([discover({ ns: reg.ns, nse: reg.nse })], rec.next);
    const request = req({ labels: { app: 'x' } });
    const err = (await lastValueFrom(handler.request(request, Context.background)).catch((e: unknown) => e)) as NsmError;
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.message).toContain('no network service endpoint for network service "ns" matches the request');
    expect(err.message).toContain('app=x');
    expect(rec.seen).toHaveLength(0);
    expect(request.connection?.payload).toBe('');
  });

  it('no endpoint registered at all: NOT_FOUND', async () => {
    const reg = fakeRegistry([service('ns')], []);
    const handler = chain([discover({ ns: reg.ns, nse: reg.nse })], recorder().next);
    const err = (await lastValueFrom(handler.request(req(), Context.background)).catch((e: unknown) => e)) as NsmError;
    expect(err.code).toBe(status.NOT_FOUND);
  });

  it('a registry error keeps its code and says what was looked up', async () => {
    const failing: NSHandler = registryChain([{ find: () => throwError(() => unavailable('registry down')) }]);
    const reg = fakeRegistry([], [endpoint('nse-1')]);
    const handler = chain([discover({ ns: failing, nse: reg.nse })], recorder().next);
    const err = (await lastValueFrom(handler.request(req(), Context.background)).catch((e: unknown) => e)) as NsmError;
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.message).toBe('failed to find network service "ns": registry down');
  });

  it('an endpoint with an unusable URL: UNAVAILABLE naming it', async () => {
    const reg = fakeRegistry([service('ns')], [endpoint('bad', { url: 'ftp://x' })]);
    const handler = chain([discover({ ns: reg.ns, nse: reg.nse })], recorder().next);
    const err = (await lastValueFrom(handler.request(req({ networkServiceEndpointName: 'bad' }), Context.background)).catch((e: unknown) => e)) as NsmError;
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.message).toContain('"bad" has an unusable url');
  });

  it('waits for each Find in turn; next starts when the endpoints are known', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const nsFind = cold('--|');
      const nseFind = cold('---|');
      const reg = fakeRegistry([service('ns')], [endpoint('nse-1')], { nsFind: () => nsFind, nseFind: () => nseFind });
      const times: number[] = [];
      const next: NetworkServiceHandler = {
        request: (r) => defer(() => (times.push(scheduler.now()), of(Connection.fromPartial(r.connection as Connection)))),
        close: () => of(undefined),
      };
      const handler = chain([discover({ ns: reg.ns, nse: reg.nse, scheduler })], next);
      expectObservable(handler.request(req(), Context.background), '^').toBe('-----(c|)', { c: Connection.fromPartial({ id: 'c1', networkService: 'ns', payload: 'IP' }) });
      expectSubscriptions(nsFind.subscriptions).toBe('^-!');
      expectSubscriptions(nseFind.subscriptions).toBe('--^--!');
      scheduler.flush();
      expect(times).toEqual([5]);
    });
  });

  it('unsubscribing cancels the Find in flight and next is never called', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const nsFind = cold('--|');
      const nseFind = cold('-----|');
      const reg = fakeRegistry([service('ns')], [endpoint('nse-1')], { nsFind: () => nsFind, nseFind: () => nseFind });
      const rec = recorder();
      const handler = chain([discover({ ns: reg.ns, nse: reg.nse })], rec.next);
      expectObservable(handler.request(req(), Context.background), '^---!').toBe('-');
      expectSubscriptions(nseFind.subscriptions).toBe('--^-!');
      expect(rec.seen).toHaveLength(0);
    });
  });
});

describe('discover: Close', () => {
  it('resolves the URL from the endpoint name', async () => {
    const reg = fakeRegistry([service('ns')], [endpoint('nse-1', { url: 'tcp://10.0.0.1:5001' })]);
    const rec = recorder();
    const handler = chain([discover({ ns: reg.ns, nse: reg.nse })], rec.next);
    await lastValueFrom(handler.close(Connection.fromPartial({ id: 'c1', networkServiceEndpointName: 'nse-1' }), Context.background));
    expect(rec.closes.map((c) => c.url)).toEqual(['tcp://10.0.0.1:5001']);
    expect(reg.nseQueries[0]?.query.networkServiceEndpoint?.name).toBe('nse-1');
  });

  it('always calls next: unknown endpoint, no endpoint name, registry failure, unusable URL', async () => {
    const reg = fakeRegistry([service('ns')], [endpoint('bad', { url: 'nonsense' })]);
    const failing: NSEHandler = registryChain([{ find: () => throwError(() => unavailable('down')) }]);
    const rec = recorder();
    const handler = chain([discover({ ns: reg.ns, nse: reg.nse })], rec.next);
    const broken = chain([discover({ ns: reg.ns, nse: failing })], rec.next);
    await lastValueFrom(handler.close(Connection.fromPartial({ id: 'a', networkServiceEndpointName: 'gone' }), Context.background));
    await lastValueFrom(handler.close(Connection.fromPartial({ id: 'b' }), Context.background));
    await lastValueFrom(broken.close(Connection.fromPartial({ id: 'c', networkServiceEndpointName: 'nse-1' }), Context.background));
    await lastValueFrom(handler.close(Connection.fromPartial({ id: 'd', networkServiceEndpointName: 'bad' }), Context.background));
    expect(rec.closes.map((c) => [c.conn.id, c.url])).toEqual([
      ['a', undefined],
      ['b', undefined],
      ['c', undefined],
      ['d', undefined],
    ]);
    // no name: nothing to look up
    expect(reg.nseQueries.map((q) => q.query.networkServiceEndpoint?.name)).toEqual(['gone', 'bad']);
  });

  it('a client URL already in the context is kept, nothing is looked up', async () => {
    const reg = fakeRegistry([], [endpoint('nse-1')]);
    const rec = recorder();
    const handler = chain([discover({ ns: reg.ns, nse: reg.nse })], rec.next);
    await firstValueFrom(
      handler.close(Connection.fromPartial({ id: 'a', networkServiceEndpointName: 'nse-1' }), Context.background.with(clientUrlKey, parseNsmUrl('tcp://1.2.3.4:5'))),
    );
    expect(rec.closes[0]?.url).toBe('tcp://1.2.3.4:5');
    expect(reg.nseQueries).toHaveLength(0);
  });

  it('the Close result is next\'s: its error comes back', async () => {
    const reg = fakeRegistry([], [endpoint('nse-1')]);
    const next: NetworkServiceHandler = { request: () => EMPTY, close: () => throwError(() => unavailable('next failed')) };
    const handler = chain([discover({ ns: reg.ns, nse: reg.nse })], next);
    await expect(lastValueFrom(handler.close(Connection.fromPartial({ id: 'a', networkServiceEndpointName: 'nse-1' }), Context.background))).rejects.toThrow('next failed');
  });
});

describe('discover: registry views', () => {
  it('a view hit: the candidates come from the views, nothing is Found', async () => {
    const reg = fakeRegistry([service('ns')], [endpoint('nse-1')]);
    const views = fakeViews({ services: [service('ns', { payload: 'ETHERNET' })], endpoints: [endpoint('nse-1'), endpoint('nse-2')] });
    const rec = recorder();
    await lastValueFrom(chain([discover({ ns: reg.ns, nse: reg.nse, views })], rec.next).request(req(), Context.background));
    expect(reg.nsQueries.length + reg.nseQueries.length).toBe(0);
    expect(rec.seen[0]?.candidates).toEqual(['nse-1', 'nse-2']);
    expect(rec.seen[0]?.payload).toBe('ETHERNET');
  });

  it('a miss Finds once: an endpoint registered a moment ago (not in the view yet), or no view yet', async () => {
    const reg = fakeRegistry([service('ns')], [endpoint('fresh')]);
    const rec = recorder();
    const stale = fakeViews({ services: [service('ns')], endpoints: [] });
    await lastValueFrom(chain([discover({ ns: reg.ns, nse: reg.nse, views: stale })], rec.next).request(req(), Context.background));
    await lastValueFrom(chain([discover({ ns: reg.ns, nse: reg.nse, views: fakeViews({}) })], rec.next).request(req(), Context.background));
    expect(rec.seen.map((s) => s.candidates)).toEqual([['fresh'], ['fresh']]);
    expect(reg.nseQueries).toHaveLength(2);
  });

  it('an expired endpoint left in the view is not picked: the view misses and the registry answers', async () => {
    const reg = fakeRegistry([service('ns')], [endpoint('live')]);
    const views = fakeViews({ services: [service('ns')], endpoints: [endpoint('old', { expirationTime: msToTimestamp(5000) })] });
    const rec = recorder();
    await lastValueFrom(chain([discover({ ns: reg.ns, nse: reg.nse, views, scheduler: clock(6000) })], rec.next).request(req(), Context.background));
    expect(rec.seen[0]?.candidates).toEqual(['live']);
  });

  it('a named endpoint and Close resolve from the view of the service; a name it lacks is Found', async () => {
    const reg = fakeRegistry([service('ns')], [endpoint('fresh', { url: 'tcp://10.0.0.9:5001' })]);
    const views = fakeViews({ services: [service('ns')], endpoints: [endpoint('nse-1', { url: 'tcp://10.0.0.1:5001' })] });
    const rec = recorder();
    const handler = chain([discover({ ns: reg.ns, nse: reg.nse, views })], rec.next);
    await lastValueFrom(handler.request(req({ networkServiceEndpointName: 'nse-1' }), Context.background));
    await lastValueFrom(handler.close(Connection.fromPartial({ id: 'c1', networkService: 'ns', networkServiceEndpointName: 'nse-1' }), Context.background));
    expect(reg.nseQueries).toHaveLength(0);
    await lastValueFrom(handler.request(req({ networkServiceEndpointName: 'fresh' }), Context.background));
    expect(rec.seen.map((s) => s.url)).toEqual(['tcp://10.0.0.1:5001', 'tcp://10.0.0.9:5001']);
    expect(rec.closes.map((c) => c.url)).toEqual(['tcp://10.0.0.1:5001']);
    expect(reg.nseQueries.map((q) => q.query.networkServiceEndpoint?.name)).toEqual(['fresh']);
  });
});

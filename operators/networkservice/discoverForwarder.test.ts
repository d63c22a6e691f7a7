import { status } from '../core/status.js';
import { concat, defer, lastValueFrom, Observable, of, throwError } from 'rxjs';
import { ignoreElements } from 'rxjs/operators';
import { describe, expect, it } from 'vitest';
import { Connection, State, type PathSegment } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import {
  NetworkService,
  NetworkServiceEndpoint,
  type Match,
  type NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
  type NetworkServiceResponse,
} from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { DialError, NsmError, unavailable } from '../core/errors.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { registryChain, type NSEHandler, type NSHandler } from '../core/registry.js';
import { matchNetworkService, matchNetworkServiceEndpoint } from '../registry/matching.js';
import { clientUrlOf } from './clientUrl.js';
import { discoverForwarder, matchForwarders } from './discoverForwarder.js';
import { metadata } from './metadata.js';
import { marbles } from '../../test/marbles.js';
import { fakeViews } from '../../test/fakeViews.js';
import type { NsmUrl } from '../tools/nsmUrl.js';

const NSMGR = 'tcp://10.0.0.1:5001';
const fwd = (name: string, labels: Record<string, string> | null = { p2p: 'true' }, extra: Partial<NetworkServiceEndpoint> = {}) =>
  NetworkServiceEndpoint.fromPartial({
    name,
    networkServiceNames: ['forwarder'],
    networkServiceLabels: labels === null ? {} : { forwarder: { labels } },
    url: NSMGR,
    ...extra,
  });
const match = (m: Partial<Match>): Match => ({ sourceSelector: {}, routes: [], fallthrough: false, metadata: undefined, ...m });

/**
 * In-memory registries from registryChain: Find answers the stored items the query matches, the
 * way the registry does (the NSE query's url is a substring match). The forwarders' URLs are
 * given back as the real ones (unix:///<name>.sock), as the nsmgr's localBypass does.
 */
function fakeRegistry(services: NetworkService[], forwarders: NetworkServiceEndpoint[], nseGate?: () => Observable<unknown>) {
  const nseQueries: NetworkServiceEndpointQuery[] = [];
  let nsFinds = 0;
  const ns: NSHandler = registryChain([
    {
      find: (query) =>
        defer(() => {
          nsFinds++;
          return of<NetworkServiceResponse[]>(
            ...services.filter((s) => matchNetworkService(query.networkService, s)).map((s) => ({ networkService: s, deleted: false })),
          );
        }),
    },
  ]);
  const nse: NSEHandler = registryChain([
    {
      find: (query) =>
        defer(() => {
          nseQueries.push(query);
          const found = forwarders
            .filter((f) => matchNetworkServiceEndpoint(query.networkServiceEndpoint, f))
            .map((f): NetworkServiceEndpointResponse => ({ networkServiceEndpoint: { ...f, url: `unix:///${f.name}.sock` }, deleted: false }));
          return nseGate ? concat(nseGate().pipe(ignoreElements()), of(...found)) : of(...found);
        }),
    },
  ]);
  return { ns, nse, nseQueries, nsFinds: () => nsFinds };
}

/** End of chain: records which forwarder URL each try went to; `fail` lists forwarders that refuse. */
function recorder(fail: (name: string) => Error | undefined = () => undefined) {
  const tries: string[] = [];
  const closes: (string | undefined)[] = [];
  const next: NetworkServiceHandler = {
    request: (r, ctx) =>
      defer(() => {
        const url = clientUrlOf(ctx)?.href ?? '';
        const name = /unix:\/\/\/(.*)\.sock/.exec(url)?.[1] ?? url;
        tries.push(name);
        const err = fail(name);
        return err ? throwError(() => err) : of(Connection.fromPartial(r.connection as Connection));
      }),
    close: (_c, ctx) =>
      defer(() => {
        closes.push(clientUrlOf(ctx)?.href);
        return of(undefined);
      }),
  };
  return { next, tries, closes };
}

const seg = (name: string): PathSegment => ({ name, id: `${name}-id`, token: '', expires: undefined, metrics: {} });
const req = (extra: Partial<Connection> = {}) =>
  NetworkServiceRequest.fromPartial({ connection: { id: 'nsmgr-id', networkService: 'ns', path: { index: 1, pathSegments: [seg('nsc'), seg('nsmgr')] }, ...extra } });

function setup(services: NetworkService[], forwarders: NetworkServiceEndpoint[], fail?: (name: string) => Error | undefined, serviceName?: string, reselectUnreachable?: boolean) {
  const reg = fakeRegistry(services, forwarders);
  const rec = recorder(fail);
  const meta = metadata();
  const handler = chain([meta, discoverForwarder({ ns: reg.ns, nse: reg.nse, nsmgrUrl: NSMGR, forwarderServiceName: serviceName, reselectUnreachable })], rec.next);
  return { reg, rec, meta, handler };
}

const ns = (m: Match[] = []) => NetworkService.fromPartial({ name: 'ns', payload: 'IP', matches: m });
const errorOf = async (o: Observable<unknown>) => (await lastValueFrom(o).catch((e: unknown) => e)) as NsmError;

describe('matchForwarders', () => {
  const fs = [fwd('plain', { p2p: 'true' }), fwd('fast', { p2p: 'true', speed: 'fast' }), fwd('n2', { p2p: 'true', node: 'n2' }), fwd('unlabelled', null)];
  const names = (l: NetworkServiceEndpoint[]) => l.map((f) => f.name);

  it('no matches: every forwarder, even unlabelled ones', () => {
    expect(names(matchForwarders({}, ns(), fs))).toEqual(['plain', 'fast', 'n2', 'unlabelled']);
  });

  it('a match without metadata labels requires p2p=true; unlabelled forwarders never qualify', () => {
    expect(names(matchForwarders({}, ns([match({})]), fs))).toEqual(['plain', 'fast', 'n2']);
    expect(names(matchForwarders({}, ns([match({ metadata: { labels: {} } })]), [fwd('x', { other: '1' })]))).toEqual([]);
  });

  it('metadata labels select forwarders, as Go templates over the request labels', () => {
    expect(names(matchForwarders({}, ns([match({ metadata: { labels: { speed: 'fast' } } })]), fs))).toEqual(['fast']);
    expect(names(matchForwarders({ nodeName: 'n2' }, ns([match({ metadata: { labels: { node: '{{.nodeName}}' } } })]), fs))).toEqual(['n2']);
  });

  it('the first match whose source selector fits the request decides; fallthrough moves on when it finds none', () => {
    const m = [
      match({ sourceSelector: { app: 'db' }, metadata: { labels: { speed: 'fast' } } }),
      match({ metadata: { labels: { speed: 'warp' } }, fallthrough: true }),
      match({ metadata: { labels: { node: 'n2' } } }),
    ];
    expect(names(matchForwarders({ app: 'db' }, ns(m), fs))).toEqual(['fast']);
    expect(names(matchForwarders({ app: 'web' }, ns(m), fs))).toEqual(['n2']);
    // without fallthrough an empty result stands
    const strict = [match({ metadata: { labels: { speed: 'warp' } } }), match({})];
    expect(names(matchForwarders({}, ns(strict), fs))).toEqual([]);
    // no match applies: none
    expect(names(matchForwarders({}, ns([match({ sourceSelector: { app: 'db' } })]), fs))).toEqual([]);
  });

  it('uses the labels of the given forwarder service name', () => {
    const f = NetworkServiceEndpoint.fromPartial({ name: 'x', networkServiceLabels: { 'my-fwd': { labels: { p2p: 'true' } } } });
    expect(names(matchForwarders({}, ns([match({})]), [f]))).toEqual([]);
    expect(names(matchForwarders({}, ns([match({})]), [f], 'my-fwd'))).toEqual(['x']);
  });
});

describe('discoverForwarder: Request', () => {
  it('finds the service, then forwarders of this nsmgr; the first one serves and is stored', async () => {
    const t = setup([ns()], [fwd('f1'), fwd('f2'), fwd('elsewhere', { p2p: 'true' }, { url: 'tcp://10.0.0.2:5001' })]);
    await lastValueFrom(t.handler.request(req(), Context.background));
    expect(t.rec.tries).toEqual(['f1']);
    expect(t.reg.nseQueries[0]).toEqual({
      networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ networkServiceNames: ['forwarder'], url: NSMGR }),
      watch: false,
    });
    // refresh: only the stored forwarder is asked for
    await lastValueFrom(t.handler.request(req(), Context.background));
    expect(t.reg.nseQueries[1]?.networkServiceEndpoint?.name).toBe('f1');
    expect(t.rec.tries).toEqual(['f1', 'f1']);
  });

  it('the network service is not registered: NOT_FOUND naming it', async () => {
    const t = setup([], [fwd('f1')]);
    const err = await errorOf(t.handler.request(req(), Context.background));
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.message).toContain('network service "ns" is not found');
    expect(t.reg.nseQueries).toHaveLength(0);
  });

  it('no forwarder qualifies: NOT_FOUND, and the failed first Request leaves no metadata', async () => {
    const t = setup([ns([match({ metadata: { labels: { speed: 'warp' } } })])], [fwd('f1')]);
    const err = await errorOf(t.handler.request(req(), Context.background));
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.message).toBe(`no forwarder for network service "ns" registered through ${NSMGR} (1 found, none matches)`);
    expect(t.meta.connections.size).toBe(0);
  });

  it('fails over in order; the one that answered is stored and used from then on', async () => {
    const down = new Set(['f1']);
    const t = setup([ns()], [fwd('f1'), fwd('f2'), fwd('f3')], (n) => (down.has(n) ? unavailable(`${n} down`) : undefined));
    await lastValueFrom(t.handler.request(req(), Context.background));
    down.clear();
    await lastValueFrom(t.handler.request(req(), Context.background));
    expect(t.rec.tries).toEqual(['f1', 'f2', 'f2']);
  });

  it('all forwarders fail: the last code, every failure listed', async () => {
    const t = setup([ns()], [fwd('f1'), fwd('f2')], (n) => unavailable(`${n} down`));
    const err = await errorOf(t.handler.request(req(), Context.background));
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.message).toBe('all 2 forwarders have failed: 0. f1: f1 down; 1. f2: f2 down');
  });

  it('the stored forwarder is gone: UNAVAILABLE "not available", no other forwarder is tried', async () => {
    const forwarders = [fwd('f1'), fwd('f2')];
    const t = setup([ns()], forwarders);
    await lastValueFrom(t.handler.request(req(), Context.background));
    forwarders.shift();
    const err = await errorOf(t.handler.request(req(), Context.background));
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.message).toBe('forwarder "f1" is not available');
    expect(t.rec.tries).toEqual(['f1']);
  });

  it('the stored forwarder cannot be dialed (killed, still registered): it is forgotten and the others are tried; an answered failure is not', async () => {
    const dead = new Set<string>();
    let refuse = false;
    const t = setup([ns()], [fwd('f1'), fwd('f2')], (n) => (dead.has(n) ? new DialError(`cannot dial ${n}`) : n === 'f2' && refuse ? unavailable('f2 refuses') : undefined));
    await lastValueFrom(t.handler.request(req(), Context.background));
    dead.add('f1');
    await lastValueFrom(t.handler.request(req(), Context.background));
    expect(t.rec.tries).toEqual(['f1', 'f1', 'f2']);
    await lastValueFrom(t.handler.request(req(), Context.background)); // f2 is stored now
    expect(t.rec.tries.at(-1)).toBe('f2');
    refuse = true; // a forwarder that answers with an error keeps being the one
    const err = await errorOf(t.handler.request(req(), Context.background));
    expect(err.message).toBe('all 1 forwarders have failed: 0. f2: f2 refuses');
    expect(t.rec.tries.slice(3)).toEqual(['f2', 'f2']);
  });

  it('the stored forwarder cannot be dialed (killed, still registered): with reselectUnreachable: false (upstream) the Request fails, no other is tried, until a reselect', async () => {
    const dead = new Set<string>();
    const t = setup([ns()], [fwd('f1'), fwd('f2')], (n) => (dead.has(n) ? new DialError(`cannot dial ${n}`) : undefined), undefined, false);
    await lastValueFrom(t.handler.request(req(), Context.background));
    dead.add('f1');
    for (let i = 0; i < 2; i++) {
      const err = await errorOf(t.handler.request(req(), Context.background));
      expect(err.message).toBe('all 1 forwarders have failed: 0. f1: cannot dial f1');
    }
    expect(t.rec.tries).toEqual(['f1', 'f1', 'f1']);
    await lastValueFrom(t.handler.request(req({ state: State.RESELECT_REQUESTED }), Context.background));
    await lastValueFrom(t.handler.request(req(), Context.background)); // f2 is stored now
    expect(t.rec.tries.slice(3)).toEqual(['f1', 'f2', 'f2']);
  });

  it('forwarders the nsmgr failed to reach moments ago are tried after the others, order kept', async () => {
    const reg = fakeRegistry([ns()], [fwd('f1'), fwd('f2'), fwd('f3'), fwd('f4')]);
    const rec = recorder((n) => (n === 'f2' ? unavailable('f2 down') : undefined));
    const failing = (url: NsmUrl) => url.href === 'unix:///f1.sock' || url.href === 'unix:///f3.sock';
    const handler = chain([metadata(), discoverForwarder({ ns: reg.ns, nse: reg.nse, nsmgrUrl: NSMGR, failing })], rec.next);
    await lastValueFrom(handler.request(req(), Context.background));
    expect(rec.tries).toEqual(['f2', 'f4']);
  });

  it('RESELECT_REQUESTED forgets the stored forwarder and stores the new choice', async () => {
    const forwarders = [fwd('f1'), fwd('f2')];
    const t = setup([ns()], forwarders);
    await lastValueFrom(t.handler.request(req(), Context.background));
    forwarders.shift();
    await lastValueFrom(t.handler.request(req({ state: State.RESELECT_REQUESTED }), Context.background));
    expect(t.reg.nseQueries[1]?.networkServiceEndpoint?.name).toBe('');
    await lastValueFrom(t.handler.request(req(), Context.background));
    expect(t.reg.nseQueries[2]?.networkServiceEndpoint?.name).toBe('f2');
    expect(t.rec.tries).toEqual(['f1', 'f2', 'f2']);
  });

  it('nothing stored (nsmgr restarted): the forwarder in the path\'s next segment is tried first', async () => {
    const t = setup([ns()], [fwd('f1'), fwd('f2'), fwd('f3')]);
    const path = { index: 1, pathSegments: [seg('nsc'), seg('nsmgr'), seg('f3'), seg('nse')] };
    await lastValueFrom(t.handler.request(req({ path }), Context.background));
    expect(t.rec.tries).toEqual(['f3']);
  });

  it('the path\'s forwarder goes first by a swap: the displaced one takes its place', async () => {
    const t = setup([ns()], [fwd('f1'), fwd('f2'), fwd('f3')], (n) => (n === 'f3' ? unavailable('f3 down') : n === 'f2' ? unavailable('f2 down') : undefined));
    const path = { index: 1, pathSegments: [seg('nsc'), seg('nsmgr'), seg('f3'), seg('nse')] };
    await lastValueFrom(t.handler.request(req({ path }), Context.background));
    // [f1, f2, f3] → swap(0, 2) → [f3, f2, f1]
    expect(t.rec.tries).toEqual(['f3', 'f2', 'f1']);
  });

  it('with RESELECT_REQUESTED the path\'s forwarder is not preferred', async () => {
    const t = setup([ns()], [fwd('f1'), fwd('f2')]);
    const path = { index: 1, pathSegments: [seg('nsc'), seg('nsmgr'), seg('f2'), seg('nse')] };
    await lastValueFrom(t.handler.request(req({ path, state: State.RESELECT_REQUESTED }), Context.background));
    expect(t.rec.tries).toEqual(['f1']);
  });

  it('a custom forwarder service name is used in the query and for the labels', async () => {
    const f = NetworkServiceEndpoint.fromPartial({ name: 'vpp', networkServiceNames: ['fwd-vpp'], networkServiceLabels: { 'fwd-vpp': { labels: { p2p: 'true' } } }, url: NSMGR });
    const t = setup([ns([match({})])], [fwd('f1'), f], undefined, 'fwd-vpp');
    await lastValueFrom(t.handler.request(req(), Context.background));
    expect(t.reg.nseQueries[0]?.networkServiceEndpoint?.networkServiceNames).toEqual(['fwd-vpp']);
    expect(t.rec.tries).toEqual(['vpp']);
  });

  it('each try gets its own copy of the request', async () => {
    const seen: NetworkServiceRequest[] = [];
    const reg = fakeRegistry([ns()], [fwd('f1'), fwd('f2')]);
    const next: NetworkServiceHandler = {
      request: (r) =>
        defer(() => {
          seen.push(r);
          (r.connection as Connection).labels['scribbled'] = String(seen.length);
          return seen.length === 1 ? throwError(() => unavailable('no')) : of(Connection.fromPartial(r.connection as Connection));
        }),
      close: () => of(undefined),
    };
    const request = req();
    const conn = await lastValueFrom(chain([metadata(), discoverForwarder({ ns: reg.ns, nse: reg.nse })], next).request(request, Context.background));
    expect(conn.labels).toEqual({ scribbled: '2' });
    expect(request.connection?.labels).toEqual({});
    expect(seen[0]).not.toBe(seen[1]);
  });

  it('cancelling while the forwarders are looked up: nothing is tried, nothing stored', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const gate = cold('---|');
      const reg = fakeRegistry([ns()], [fwd('f1')], () => gate);
      const rec = recorder();
      const meta = metadata();
      const handler = chain([meta, discoverForwarder({ ns: reg.ns, nse: reg.nse })], rec.next);
      expectObservable(handler.request(req(), Context.background), '^-!').toBe('-');
      expectSubscriptions(gate.subscriptions).toBe('^-!');
      expect(rec.tries).toEqual([]);
      expect(meta.connections.size).toBe(0);
    });
  });
});

describe('discoverForwarder: Close', () => {
  it('goes to the stored forwarder', async () => {
    const t = setup([ns()], [fwd('f1'), fwd('f2')], (n) => (n === 'f1' ? unavailable('down') : undefined));
    await lastValueFrom(t.handler.request(req(), Context.background));
    await lastValueFrom(t.handler.close(Connection.fromPartial({ id: 'nsmgr-id' }), Context.background));
    expect(t.rec.closes).toEqual(['unix:///f2.sock']);
    expect(t.reg.nseQueries.at(-1)?.networkServiceEndpoint).toEqual(NetworkServiceEndpoint.fromPartial({ name: 'f2', url: NSMGR }));
    expect(t.meta.connections.size).toBe(0);
  });

  it('nothing stored: the forwarder named in the path\'s next segment', async () => {
    const t = setup([ns()], [fwd('f1'), fwd('f2')]);
    const path = { index: 1, pathSegments: [seg('nsc'), seg('nsmgr'), seg('f2'), seg('nse')] };
    await lastValueFrom(t.handler.close(Connection.fromPartial({ id: 'nsmgr-id', path }), Context.background));
    expect(t.rec.closes).toEqual(['unix:///f2.sock']);
  });

  it('always calls next: no forwarder known, forwarder gone, registry failing', async () => {
    const t = setup([ns()], [fwd('f1')]);
    await lastValueFrom(t.handler.close(Connection.fromPartial({ id: 'a' }), Context.background));
    const path = { index: 1, pathSegments: [seg('nsc'), seg('nsmgr'), seg('gone'), seg('nse')] };
    await lastValueFrom(t.handler.close(Connection.fromPartial({ id: 'b', path }), Context.background));
    const failing: NSEHandler = registryChain([{ find: () => throwError(() => unavailable('down')) }]);
    await lastValueFrom(chain([metadata(), discoverForwarder({ ns: t.reg.ns, nse: failing })], t.rec.next).close(Connection.fromPartial({ id: 'c', path }), Context.background));
    expect(t.rec.closes).toEqual([undefined, undefined, undefined]);
  });
});

describe('discoverForwarder: registry views', () => {
  /** The views hold what the nsmgr's localBypass hands back: the forwarders' real URLs. */
  const viewed = (f: NetworkServiceEndpoint) => ({ ...f, url: `unix:///${f.name}.sock` });
  const withViews = (services: NetworkService[], inRegistry: NetworkServiceEndpoint[], inView: NetworkServiceEndpoint[]) => {
    const reg = fakeRegistry(services, inRegistry);
    const rec = recorder();
    const views = fakeViews({ services, endpoints: inView.map(viewed) });
    const handler = chain([metadata(), discoverForwarder({ ns: reg.ns, nse: reg.nse, views, nsmgrUrl: NSMGR })], rec.next);
    return { reg, rec, handler };
  };

  it('a view hit: the forwarder comes from the views for the Request, the refresh and the Close, nothing is Found', async () => {
    const t = withViews([ns()], [fwd('f1'), fwd('f2')], [fwd('f1'), fwd('f2')]);
    await lastValueFrom(t.handler.request(req(), Context.background));
    await lastValueFrom(t.handler.request(req(), Context.background));
    await lastValueFrom(t.handler.close(Connection.fromPartial({ id: 'nsmgr-id' }), Context.background));
    expect(t.rec.tries).toEqual(['f1', 'f1']);
    expect(t.rec.closes).toEqual(['unix:///f1.sock']);
    expect(t.reg.nsFinds() + t.reg.nseQueries.length).toBe(0);
  });

  it('a miss Finds once: a forwarder registered a moment ago (not in the view yet) serves', async () => {
    const t = withViews([ns([match({ metadata: { labels: { speed: 'warp' } } })])], [fwd('fast', { speed: 'warp' })], [fwd('f1')]);
    await lastValueFrom(t.handler.request(req(), Context.background));
    expect(t.rec.tries).toEqual(['fast']);
    expect(t.reg.nseQueries).toHaveLength(1);
  });
});

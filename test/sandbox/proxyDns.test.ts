import { createServer, type AddressInfo, type Server } from 'node:net';
import { firstValueFrom, lastValueFrom, type Observable } from 'rxjs';
import { filter, map, toArray } from 'rxjs/operators';
import { status } from '../../operators/core/status.js';
import { describe, expect, it } from 'vitest';
import { NetworkService, NetworkServiceEndpoint, type NetworkServiceEndpointResponse, type NetworkServiceResponse } from '../../proto/gen/registry.js';
import { Context } from '../../operators/core/context.js';
import { registryChain } from '../../operators/core/registry.js';
import { nseRegistryClient } from '../../operators/registry/grpcClient.js';
import { DEFAULT_REGISTRY_SERVICE } from '../../operators/registry/dnsResolve.js';
import { tcpUrl } from '../../operators/tools/nsmUrl.js';
import { liveFind } from '../../streams/liveFind.js';
import type { Domain } from './domain.js';
import { useDomains } from './domainHarness.js';

const budget = () => Context.background.withDeadline(Date.now() + 5000);
const inAnHour = () => ({ seconds: Math.floor(Date.now() / 1000) + 3600, nanos: 0 });

/**
 * Upstream's proxydns registry scenarios (sdk registry/chains/proxydns/server_ns_test.go and
 * server_nse_test.go) and the interdomain registry's bad input: each domain's registry sends
 * `name@domain` through its nsmgr-proxy and registry-proxy-dns to the registry DNS names.
 */
describe('registry-proxy-dns: names of other domains and of the floating registry', () => {
  const domains = useDomains();
  const domain = (name: string, proxies = true) => domains.domain(name, { nodes: 0, proxies });
  /** A registry client of `d` (as an nsmgr or NSE of that domain would call its registry). */
  const registry = (d: Domain) => d.sandbox.registryClient(d.registry.url);
  const nse = (name: string) => NetworkServiceEndpoint.fromPartial({ name, url: 'tcp://169.254.20.1:5001', expirationTime: inAnHour() });
  const findNse = (d: Domain, name: string) =>
    lastValueFrom(registry(d).nse.find({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name }), watch: false }, budget()).pipe(toArray()));
  const findNs = (d: Domain, name: string) => lastValueFrom(registry(d).ns.find({ networkService: NetworkService.fromPartial({ name }), watch: false }, budget()).pipe(toArray()));
  const nseNames = (list: NetworkServiceEndpointResponse[]) => list.map((r) => r.networkServiceEndpoint?.name);
  const nsNames = (list: NetworkServiceResponse[]) => list.map((r) => r.networkService?.name);

  it('TestInterdomainNetworkServiceEndpointRegistry: nse-1 of domain2 is found from domain1 as nse-1@domain2, at domain1’s nsmgr-proxy', async () => {
    const domain1 = await domain('domain1');
    const domain2 = await domain('domain2');
    const r2 = registry(domain2);
    await firstValueFrom(r2.nse.register(nse('nse-1'), budget()));
    const found = await findNse(domain1, 'nse-1@domain2');
    expect(nseNames(found)).toEqual(['nse-1@domain2']);
    expect(found[0]?.networkServiceEndpoint?.url).toBe(domain1.nsmgrProxy?.url.href);
    expect(domain1.nsmgrProxy?.served?.proxy.urls.get('nse-1@domain2')?.href).toBe(domain2.nsmgrProxy?.url.href);
    await lastValueFrom(r2.nse.unregister(nse('nse-1'), budget()), { defaultValue: undefined });
  });

  it('TestLocalDomain_NetworkServiceEndpointRegistry: a domain finds its own nse-1 as nse-1@cluster.local', async () => {
    const local = await domain('cluster.local');
    const r = registry(local);
    await firstValueFrom(r.nse.register(nse('nse-1'), budget()));
    expect(nseNames(await findNse(local, 'nse-1@cluster.local'))).toEqual(['nse-1@cluster.local']);
    await lastValueFrom(r.nse.unregister(nse('nse-1'), budget()), { defaultValue: undefined });
  });

  it('TestInterdomainFloatingNetworkServiceEndpointRegistry: nse-1@floating.domain registered through domain2 is found from domain1; the floating registry holds nse-1', async () => {
    const domain1 = await domain('domain1');
    const domain2 = await domain('domain2');
    const floating = await domain('floating.domain', false);
    const r2 = registry(domain2);
    const answer = await firstValueFrom(r2.nse.register(nse('nse-1@floating.domain'), budget()));
    expect(answer.name).toBe('nse-1@floating.domain');
    expect(nseNames(await findNse(floating, 'nse-1'))).toEqual(['nse-1']);
    // The floating registry keeps the URL domain2's nsmgr-proxy gave: domain1 dials that proxy.
    expect((await findNse(floating, 'nse-1'))[0]?.networkServiceEndpoint?.url).toBe(domain2.nsmgrProxy?.url.href);
    expect(nseNames(await findNse(domain1, 'nse-1@floating.domain'))).toEqual(['nse-1@floating.domain']);
    await lastValueFrom(r2.nse.unregister(nse('nse-1@floating.domain'), budget()), { defaultValue: undefined });
    expect(await findNse(floating, 'nse-1')).toEqual([]);
  });

  it('TestInterdomainNetworkServiceRegistry, TestLocalDomain_NetworkServiceRegistry, TestInterdomainFloatingNetworkServiceRegistry: services alike', async () => {
    const domain1 = await domain('domain1');
    const domain2 = await domain('domain2');
    await domain('floating.domain', false);
    const [r1, r2] = [registry(domain1), registry(domain2)];
    await firstValueFrom(r2.ns.register(NetworkService.fromPartial({ name: 'ns-1' }), budget()));
    await firstValueFrom(r1.ns.register(NetworkService.fromPartial({ name: 'ns-local' }), budget()));
    const floatingAnswer = await firstValueFrom(r2.ns.register(NetworkService.fromPartial({ name: 'ns-2@floating.domain' }), budget()));
    expect(floatingAnswer.name).toBe('ns-2@floating.domain');
    expect(nsNames(await findNs(domain1, 'ns-1@domain2'))).toEqual(['ns-1@domain2']);
    expect(nsNames(await findNs(domain1, 'ns-local@domain1'))).toEqual(['ns-local@domain1']);
    expect(nsNames(await findNs(domain1, 'ns-2@floating.domain'))).toEqual(['ns-2@floating.domain']);
    for (const [r, name] of [
      [r2, 'ns-1'],
      [r1, 'ns-local'],
      [r2, 'ns-2@floating.domain'],
    ] as const) {
      await lastValueFrom(r.ns.unregister(NetworkService.fromPartial({ name }), budget()), { defaultValue: undefined });
    }
  });

  it('a watching Find from domain1 hears domain2’s registrations and removals, through both proxies', async () => {
    const domain1 = await domain('domain1');
    const domain2 = await domain('domain2');
    const heard: string[] = [];
    const watch = registry(domain1)
      .nse.find({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ networkServiceNames: ['svc@domain2'] }), watch: true }, Context.background)
      .subscribe((r) => heard.push(`${r.deleted ? '-' : '+'}${r.networkServiceEndpoint?.name}`));
    const r2 = registry(domain2);
    const entry = NetworkServiceEndpoint.fromPartial({ ...nse('nse-1'), networkServiceNames: ['svc'] });
    await until(() => domain2.sandbox.leftovers().length === 0 && heard.length === 0 && domains.dns.queries() > 0);
    await firstValueFrom(r2.nse.register(entry, budget()));
    await until(() => heard.includes('+nse-1@domain2'));
    await lastValueFrom(r2.nse.unregister(entry, budget()), { defaultValue: undefined });
    await until(() => heard.includes('-nse-1@domain2'));
    watch.unsubscribe();
  });

  describe('bad input', () => {
    it('an unresolvable domain: NOT_FOUND naming the domain and the record looked up', async () => {
      const domain1 = await domain('domain1');
      await expect(findNs(domain1, 'ns@nowhere')).rejects.toMatchObject({
        code: status.NOT_FOUND,
        message: expect.stringMatching(/cannot resolve domain "nowhere": SRV registry\.nsm-system\.nowhere: no such name/),
      });
      // Straight to the registry (a daemon's registry client would retry until its budget ends).
      const raw = registryChain([nseRegistryClient({ pool: domain1.sandbox.pool, url: domain1.registry.url })]);
      await expect(firstValueFrom(raw.register(nse('nse-1@nowhere'), budget()))).rejects.toMatchObject({ code: status.NOT_FOUND, message: expect.stringContaining('nowhere') });
    });

    it('a name with two @: INVALID_ARGUMENT naming it, before any DNS lookup', async () => {
      const domain1 = await domain('domain1');
      const asked = domains.dns.queries();
      await expect(findNse(domain1, 'nse@a@b')).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, message: expect.stringContaining('"nse@a@b" has 2 "@"') });
      await expect(firstValueFrom(registry(domain1).ns.register(NetworkService.fromPartial({ name: 'ns@a@b' }), budget()))).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
      expect(domains.dns.queries()).toBe(asked);
    });

    it('a remote registry that answers garbage, then disappears mid-stream: the watcher recovers each time it is back', async () => {
      const domain1 = await domain('domain1');
      const domain2 = await domain('domain2');
      const real = domain2.registry.url;
      // DNS first names a port that answers garbage (not HTTP/2).
      const garbage = await garbageServer();
      domains.dns.add('domain2', DEFAULT_REGISTRY_SERVICE, tcpUrl('127.0.0.1', (garbage.address() as AddressInfo).port));
      const r2 = registry(domain2);
      await firstValueFrom(r2.nse.register(NetworkServiceEndpoint.fromPartial({ ...nse('nse-1'), networkServiceNames: ['svc'] }), budget()));
      const views: Observable<string[]> = liveFind(
        registry(domain1).nse.find,
        (watch) => ({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ networkServiceNames: ['svc@domain2'] }), watch }),
        (r: NetworkServiceEndpointResponse) => (r.networkServiceEndpoint ? { item: r.networkServiceEndpoint, deleted: r.deleted } : undefined),
        Context.background,
      ).pipe(map((view) => [...view.keys()]));
      const seen: string[][] = [];
      const sub = views.subscribe((v) => seen.push(v));
      await until(() => garbage.hits > 1);
      expect(seen).toEqual([]);
      domains.dns.add('domain2', DEFAULT_REGISTRY_SERVICE, real);
      await until(() => seen.some((v) => v.includes('nse-1@domain2')));
      // The registry dies mid-stream and comes back empty; the NSE's registry client heals its registration.
      await domain2.registry.restart();
      await until(() => domain2.registry.alive);
      await firstValueFrom(views.pipe(filter((v) => v.includes('nse-1@domain2'))));
      expect(nseNames(await findNse(domain2, 'nse-1'))).toEqual(['nse-1']);
      sub.unsubscribe();
      garbage.close();
      await lastValueFrom(r2.nse.unregister(NetworkServiceEndpoint.fromPartial({ ...nse('nse-1'), networkServiceNames: ['svc'] }), budget()), { defaultValue: undefined });
    });
  });
});

/** Waits (real time, bounded) until `done()`; a test that never gets there fails with a timeout. */
async function until(done: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A TCP server that answers every connection with bytes that are not HTTP/2, and counts them. */
async function garbageServer(): Promise<Server & { hits: number }> {
  const server = Object.assign(
    createServer((socket) => {
      server.hits++;
      socket.end('HTTP/1.1 418 garbage\r\n\r\n');
    }),
    { hits: 0 },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

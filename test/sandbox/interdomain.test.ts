import { lastValueFrom } from 'rxjs';
import { map, toArray } from 'rxjs/operators';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { Context } from '../../operators/core/context.js';
import type { NetworkServiceElement } from '../../operators/core/networkservice.js';
import { client } from '../../operators/chains/client.js';
import { clientUrl } from '../../operators/networkservice/clientUrl.js';
import { connect } from '../../operators/networkservice/connect.js';
import { inodeUrlOfFile } from '../../dataplane/kernel/netns.js';
import type { Domain } from './domain.js';
import { useDomains } from './domainHarness.js';
import type { SandboxClient } from './sandbox.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: {} };
const budget = () => Context.background.withDeadline(Date.now() + 5000);

/**
 * Upstream's interdomain and floating scenarios (sdk chains/nsmgrproxy/server_test.go,
 * registry/chains/proxydns/server_*_test.go): domains of registry + registry-proxy-dns +
 * nsmgr-proxy + nodes, found through a real DNS server; an 8-segment path
 * [nsc, nsmgr1, fwd1, proxy1, proxy2, nsmgr2, fwd2, nse] for every cross-domain connection.
 */
describe('interdomain and floating (upstream nsmgrproxy and proxydns scenarios)', () => {
  const domains = useDomains();
  const domain = domains.domain;
  const registerNs = (d: Domain, name: string) => d.registerService(name);
  const nsc = (d: Domain): SandboxClient => d.nsc();
  const names = (conn: Connection) => conn.path?.pathSegments.map((s) => s.name) ?? [];

  /** Requests `service` with id `id`, refreshes, and checks 8 segments each time; returns the refreshed connection. */
  async function requestAndRefresh(c: SandboxClient, id: string, service: string): Promise<Connection> {
    const request = { connection: { id, networkService: service }, mechanismPreferences: [kernel] };
    const conn = await c.request(request);
    expect(conn.path?.pathSegments).toHaveLength(8);
    const refreshed = await c.request({ ...request, connection: conn });
    expect(refreshed.path?.pathSegments).toHaveLength(8);
    expect(refreshed.networkService).toBe(service);
    return refreshed;
  }

  it('TestNSMGR_InterdomainUseCase: nsc in cluster1 → svc@cluster2: 8 segments through both proxies; the NSE sees the service without @cluster2', async () => {
    const cluster1 = await domain('cluster1');
    const cluster2 = await domain('cluster2');
    await registerNs(cluster2, 'my-service-interdomain');
    const seen: string[] = [];
    const check: NetworkServiceElement = { request: (r, ctx, next) => (seen.push(r.connection?.networkService ?? ''), next.request(r, ctx)) };
    await cluster2.mesh.endpoint(0, 'final-endpoint', { services: ['my-service-interdomain'], registerServices: false, additional: [check] });

    const c = nsc(cluster1);
    const conn = await requestAndRefresh(c, '1', 'my-service-interdomain@cluster2');
    expect(names(conn)).toEqual(['cluster1-nsc', 'cluster1-nsmgr-0', 'cluster1-forwarder-0-0', 'cluster1-nsmgr-proxy', 'cluster2-nsmgr-proxy', 'cluster2-nsmgr-0', 'cluster2-forwarder-0-0', 'final-endpoint']);
    expect(conn.networkServiceEndpointName).toBe('final-endpoint@cluster2');
    expect(seen).toEqual(['my-service-interdomain', 'my-service-interdomain']);
    await c.close(conn);
    expect(cluster2.mesh.nodes[0]?.forwarders[0]?.counter.closes).toBe(1);
    expect(domains.dns.queries()).toBeGreaterThan(0);
  });

  it('Test_NSEMovedFromInterdomainToFloatingUseCase: the same NSE name in cluster2 and in the floating registry; each service name reaches its own', async () => {
    const cluster1 = await domain('cluster1');
    const cluster2 = await domain('cluster2');
    const floating = await domain('floating.domain', { nodes: 0, proxies: false });
    await registerNs(cluster2, 'my-service-interdomain');
    await registerNs(cluster2, 'my-service-interdomain@floating.domain');
    await cluster2.mesh.endpoint(0, 'final-endpoint', { services: ['my-service-interdomain'], registerServices: false });
    await cluster2.mesh.endpoint(0, 'final-endpoint@floating.domain', { services: ['my-service-interdomain'], registerServices: false });

    const find = async (d: Domain, name: string) =>
      lastValueFrom(d.sandbox.registryClient(d.registry.url).nse.find({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name }), watch: false }, budget()).pipe(toArray()));
    expect(await find(cluster2, 'final-endpoint')).toHaveLength(1);
    expect(await find(cluster1, 'final-endpoint')).toHaveLength(0);
    expect(await find(floating, 'final-endpoint')).toHaveLength(1);

    const c = nsc(cluster1);
    for (const [service, nse] of [
      ['my-service-interdomain@cluster2', 'final-endpoint'],
      ['my-service-interdomain@floating.domain', 'final-endpoint@floating.domain'],
    ] as const) {
      const conn = await requestAndRefresh(c, '1', service);
      expect(conn.path?.pathSegments[7]?.name).toBe(nse);
      await c.close(conn);
    }
  });

  it('TestNSMGR_Interdomain_TwoNodesNSEs: one client, two services of a two-node cluster2', async () => {
    const cluster1 = await domain('cluster1');
    const cluster2 = await domain('cluster2', { nodes: 2 });
    await registerNs(cluster2, 'my-service-interdomain-1');
    await registerNs(cluster2, 'my-service-interdomain-2');
    await cluster2.mesh.endpoint(0, 'final-endpoint-1', { services: ['my-service-interdomain-1'], registerServices: false });
    await cluster2.mesh.endpoint(0, 'final-endpoint-2', { services: ['my-service-interdomain-2'], registerServices: false });
    const c = nsc(cluster1);
    const first = await requestAndRefresh(c, '1', 'my-service-interdomain-1@cluster2');
    const second = await requestAndRefresh(c, '2', 'my-service-interdomain-2@cluster2');
    expect([first.path?.pathSegments[7]?.name, second.path?.pathSegments[7]?.name]).toEqual(['final-endpoint-1', 'final-endpoint-2']);
    await c.close(first);
    await c.close(second);
  });

  /** cluster1, cluster2 and the floating domain; an NSE of cluster2 registered as final-endpoint@floating.domain serving `service`. */
  async function floatingEndpoint(service: string): Promise<{ cluster1: Domain; cluster2: Domain }> {
    const cluster1 = await domain('cluster1');
    const cluster2 = await domain('cluster2');
    await domain('floating.domain', { nodes: 0, proxies: false });
    await registerNs(cluster2, 'my-service-interdomain@floating.domain');
    await cluster2.mesh.endpoint(0, 'final-endpoint@floating.domain', { services: [service], registerServices: false });
    return { cluster1, cluster2 };
  }

  it('TestNSMGR_FloatingInterdomainUseCase: an NSE registered as name@floating.domain through cluster2 is found there and reached from cluster1', async () => {
    const { cluster1, cluster2 } = await floatingEndpoint('my-service-interdomain');

    const viaNsmgr = cluster2.mesh.registryOf(0);
    const found = await lastValueFrom(viaNsmgr.nse.find({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name: 'final-endpoint@floating.domain' }), watch: false }, budget()).pipe(toArray()));
    expect(found.map((r) => r.networkServiceEndpoint?.name)).toEqual(['final-endpoint@floating.domain']);

    const c = nsc(cluster1);
    const conn = await requestAndRefresh(c, '1', 'my-service-interdomain@floating.domain');
    expect(conn.path?.pathSegments[7]?.name).toBe('final-endpoint@floating.domain');
    await c.close(conn);
  });

  it('TestNSMGR_FloatingInterdomainUseCase_FloatingNetworkServiceNameRegistration: the NSE registers its service as svc@floating.domain too', async () => {
    const { cluster1 } = await floatingEndpoint('my-service-interdomain@floating.domain');
    const c = nsc(cluster1);
    const conn = await requestAndRefresh(c, '1', 'my-service-interdomain@floating.domain');
    await c.close(conn);
  });

  it('TestNSMGR_FloatingInterdomain_FourClusters: NSEs of cluster2 and cluster3 shared through the floating registry, each reached from cluster1', async () => {
    const cluster1 = await domain('cluster1');
    const cluster2 = await domain('cluster2');
    const cluster3 = await domain('cluster3');
    await domain('floating.domain', { nodes: 0, proxies: false });
    await registerNs(cluster2, 'my-service-interdomain-1@floating.domain');
    await cluster2.mesh.endpoint(0, 'final-endpoint-1@floating.domain', { services: ['my-service-interdomain-1'], registerServices: false });
    // Upstream registers service 2's endpoint but asks for service 1 twice; here each is asked for.
    await registerNs(cluster3, 'my-service-interdomain-2@floating.domain');
    await cluster3.mesh.endpoint(0, 'final-endpoint-2@floating.domain', { services: ['my-service-interdomain-2'], registerServices: false });
    const c = nsc(cluster1);
    const first = await requestAndRefresh(c, '1', 'my-service-interdomain-1@floating.domain');
    const second = await requestAndRefresh(c, '2', 'my-service-interdomain-2@floating.domain');
    expect(names(first)[5]).toBe('cluster2-nsmgr-0');
    expect(names(second)[5]).toBe('cluster3-nsmgr-0');
    await c.close(first);
    await c.close(second);
  });

  it('Test_Interdomain_PassThroughUsecase: 5 clusters, each NSE a passthrough to the previous cluster: 36 segments, Close reaches cluster0', async () => {
    const count = 5;
    const clusters: Domain[] = [];
    // The NSE answers under its own service and name (the onward connection's are the previous
    // cluster's): the client's Close then comes back to it, and from it goes on to cluster0.
    const ownNames: NetworkServiceElement = {
      request: (r, ctx, next) => {
        const { networkService, networkServiceEndpointName } = r.connection ?? { networkService: '', networkServiceEndpointName: '' };
        return next.request(r, ctx).pipe(map((conn) => ({ ...conn, networkService, networkServiceEndpointName })));
      },
    };
    for (let i = 0; i < count; i++) clusters.push(await domain(`cluster${i}`));
    for (const [i, d] of clusters.entries()) {
      await registerNs(d, `my-service-remote-${i}`);
      const previous = `my-service-remote-${i - 1}@cluster${i - 1}`;
      // The NSE asks its own nsmgr for the previous cluster's service (upstream passThroughClient).
      const passThrough: NetworkServiceElement = {
        request: (r, ctx, next) => {
          if (r.connection) Object.assign(r.connection, { networkService: previous, networkServiceEndpointName: '' });
          return next.request(r, ctx);
        },
        close: (conn, ctx, next) => next.close({ ...conn, networkService: previous }, ctx),
      };
      const nsmgrUrl = (d.mesh.nodes[0] as { nsmgr: { url: Parameters<typeof clientUrl>[0] } }).nsmgr.url;
      const onward = client({ name: `endpoint-${i}-client`, pool: d.sandbox.poolFor(`endpoint-${i}`), dialTimeout: d.sandbox.dialTimeout, refresh: false, token: d.sandbox.token(`endpoint-${i}`), inodeUrlOf: inodeUrlOfFile, additional: [passThrough], scheduler: d.sandbox.scheduler });
      await d.mesh.endpoint(0, `endpoint-${i}`, { services: [`my-service-remote-${i}`], registerServices: false, additional: i === 0 ? [] : [clientUrl(nsmgrUrl), ownNames, connect(onward.handler)] });
    }
    const last = clusters[count - 1] as Domain;
    const c = nsc(last);
    const conn = await c.request({ connection: { id: '1', networkService: `my-service-remote-${count - 1}` }, mechanismPreferences: [kernel] });
    expect(conn.path?.pathSegments).toHaveLength(8 * (count - 1) + 4);
    await c.close(conn);
    expect(clusters[0]?.mesh.nodes[0]?.forwarders[0]?.counter.closes).toBe(1);
  });
});

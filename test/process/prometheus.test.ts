import { expect, it } from 'vitest';
import { describeKernel, ipJson, pings, useNamespaces } from '../kernel/namespaces.js';
import { nscEvents, stop, type Daemon } from './processMesh.js';
import { prometheusUrl, sample, scrape } from './scrape.js';
import { useProcessMesh } from './useProcessMesh.js';

// Every daemon serves Prometheus on a port of its own choosing in its netns, and says where at INFO;
// short tokens make the nsc refresh every second, so the path's counters reach the nsmgr often.
const mesh = useProcessMesh({ PROMETHEUS: 'true', NSM_PROMETHEUS_LISTEN_ON: '127.0.0.1:0', NSM_LOG_LEVEL: 'INFO', NSM_MAX_TOKEN_LIFETIME: '3s' });

describeKernel('Prometheus on every daemon (PROMETHEUS=true), scraped over TLS 1.3 with the daemon’s SVID', () => {
  const ns = useNamespaces();

  const metricsOf = async (netns: string, daemon: Daemon) => {
    await expect.poll(() => prometheusUrl(daemon.out), { timeout: 20_000 }).toBeDefined();
    const answer = await scrape(netns, prometheusUrl(daemon.out) ?? '', mesh().identitySocket);
    expect([answer.status, answer.protocol]).toEqual([200, 'TLSv1.3']);
    return answer.body;
  };

  it('gRPC calls served and made, the registry’s sizes, the connection’s interface counters at the nsmgr (upstream names), heals at the nsc', async () => {
    const [node, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    const { nsmgr, forwarder } = mesh().node(node, 0);
    mesh().nse(nseNs, 0);
    const client = mesh().nsc(nscNs);
    await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 30_000 }).toBe(1);
    const connection = nscEvents(client, 'connected')[0]?.path.pathSegments[0]?.id ?? '';
    await expect.poll(() => pings(nscNs, '169.254.1.0'), { timeout: 10_000 }).toBe(true);

    const registry = mesh().daemons.find((d) => d.child.spawnargs.includes('registry-memory')) as Daemon;
    const atRegistry = await metricsOf(node, registry);
    expect(sample(atRegistry, 'nsm_registry_network_service_endpoints')).toBe(2); // the forwarder and the NSE
    expect(sample(atRegistry, 'nsm_registry_network_services')).toBeGreaterThanOrEqual(1);
    expect(sample(atRegistry, 'grpc_server_handled_total', { grpc_service: 'registry.NetworkServiceEndpointRegistry', grpc_method: 'Register', grpc_code: 'OK' })).toBeGreaterThanOrEqual(2);
    expect(sample(atRegistry, 'process_resident_memory_bytes')).toBeGreaterThan(0);

    // The nsmgr served the nsc's Request and made one to the forwarder; its metrics element took the
    // forwarder's interface counters from the path: ping's bytes, counted at the client interface.
    await expect
      .poll(async () => sample(await metricsOf(node, nsmgr), 'forwarder_0_server_rx_bytes_total', { connection }) ?? 0, { timeout: 20_000 })
      .toBeGreaterThan(0);
    const atNsmgr = await metricsOf(node, nsmgr);
    const requests = { grpc_service: 'networkservice.NetworkService', grpc_method: 'Request', grpc_code: 'OK' };
    expect(sample(atNsmgr, 'grpc_server_handled_total', requests)).toBeGreaterThanOrEqual(1);
    expect(sample(atNsmgr, 'grpc_client_handled_total', requests)).toBeGreaterThanOrEqual(1);
    expect(sample(atNsmgr, 'grpc_server_handling_seconds_count', { grpc_service: requests.grpc_service, grpc_method: 'Request' })).toBeGreaterThanOrEqual(1);

    // A forwarder killed: the nsc heals through a new one and counts it.
    expect(sample(await metricsOf(nscNs, client), 'nsm_heal_requests_total', { kind: 'reselect' })).toBeUndefined();
    const before = ipJson<{ ifname: string; ifindex: number }[]>(nscNs, ['link', 'show']).find((l) => l.ifname === 'nsm-1')?.ifindex;
    await stop(forwarder, 'SIGKILL');
    mesh().forwarder(node, 0, 'forwarder-new');
    await expect.poll(() => ipJson<{ ifname: string; ifindex: number }[]>(nscNs, ['link', 'show']).find((l) => l.ifname === 'nsm-1')?.ifindex, { timeout: 30_000 }).not.toBe(before);
    const atNsc = await metricsOf(nscNs, client);
    expect((sample(atNsc, 'nsm_heal_requests_total', { kind: 'reselect' }) ?? 0) + (sample(atNsc, 'nsm_heal_requests_total', { kind: 'reconnect' }) ?? 0)).toBeGreaterThanOrEqual(1);
    expect(await stop(client)).toBe(0);
  }, 120_000);
});

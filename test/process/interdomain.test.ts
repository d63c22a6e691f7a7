import { expect, it } from 'vitest';
import { describeKernel, ipJson, pings, tcpTransfer, useNamespaces } from '../kernel/namespaces.js';
import { CLUSTERS, clusterNamespaces, FLOATING, nsmRxCluster } from './clusters.js';
import { nscEvents, stop, type Daemon } from './processMesh.js';
import { useProcessMesh } from './useProcessMesh.js';

const mesh = useProcessMesh();
/** Each test waits up to 40 s for a connection (and the heal test 40 s more for the heal); the file's 30 s default would cut those waits short. */
const TEST_TIMEOUT = 90_000;

describeKernel('interdomain on the kernel datapath: two clusters (registry, registry-proxy-dns, nsmgr-proxy, nsmgr, forwarder-kernel), a floating registry, DNS', () => {
  const ns = useNamespaces();

  /** Both clusters of nsm-rx (nsmgr-0 in cluster1, nsmgr-1 in cluster2) and the floating registry. */
  function clusters(): void {
    const { nodes, resolvConf, mapIp, clusterInfo } = clusterNamespaces(ns, mesh());
    for (const [i, c] of CLUSTERS.entries()) nsmRxCluster(mesh(), nodes[i] as string, i, c, { resolvConf, mapIp: mapIp(c), clusterInfo: clusterInfo(c) });
    mesh().start(nodes[1], 'registry-memory', { NSM_LISTEN_ON: FLOATING.registry });
  }

  const segments = (client: Daemon, n = 0) => nscEvents(client, 'connected')[n]?.path.pathSegments.map((s) => s.name);
  const linksIn = (netns: string) => ipJson<{ ifname: string }[]>(netns, ['link', 'show']).filter((l) => l.ifname !== 'lo').map((l) => l.ifname);

  it('an nsc in cluster1 asks for kernel://icmp-responder@cluster2/nsm-1: 8 segments through both nsmgr-proxies, VXLAN between the clusters; ping and TCP pass; SIGTERM removes every link', async () => {
    clusters();
    const [nscNs, nseNs] = [ns.make('nsc'), ns.make('nse')];
    mesh().nse(nseNs, 1);
    const client = mesh().nsc(nscNs, 'kernel://icmp-responder@cluster2/nsm-1');
    await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 40_000 }).toBe(1);
    expect(segments(client)).toEqual(['nsc', 'nsmgr-0', 'forwarder-0', 'nsmgr-proxy-cluster1', 'nsmgr-proxy-cluster2', 'nsmgr-1', 'forwarder-1', 'icmp-responder']);
    expect(ipJson<{ linkinfo?: { info_kind?: string } }[]>(nscNs, ['-d', 'link', 'show', 'nsm-1'])[0]?.linkinfo?.info_kind).toBe('vxlan');
    expect(pings(nscNs, '169.254.1.0')).toBe(true);
    expect(await tcpTransfer(nscNs, nseNs, '169.254.1.0', 1 << 20)).toBe(1 << 20);
    expect(await stop(client)).toBe(0);
    expect(linksIn(nscNs)).toEqual([]);
    expect(linksIn(nseNs)).toEqual([]);
  }, TEST_TIMEOUT);

  it('floating: an NSE of cluster2 registered as icmp-floating@floating.domain is found in the floating registry from cluster1; ping passes', async () => {
    clusters();
    const [nscNs, nseNs] = [ns.make('nsc'), ns.make('nse')];
    mesh().start(nseNs, 'nse-icmp-responder', { NSM_NAME: 'icmp-floating@floating.domain', NSM_CONNECT_TO: mesh().sock('nsmgr-1'), NSM_SERVICE_NAMES: 'icmp-responder@floating.domain', NSM_CIDR_PREFIX: '169.254.3.0/24' });
    const client = mesh().nsc(nscNs, 'kernel://icmp-responder@floating.domain/nsm-1');
    await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 40_000 }).toBe(1);
    expect(segments(client)).toEqual(['nsc', 'nsmgr-0', 'forwarder-0', 'nsmgr-proxy-cluster1', 'nsmgr-proxy-cluster2', 'nsmgr-1', 'forwarder-1', 'icmp-floating@floating.domain']);
    expect(pings(nscNs, '169.254.3.0')).toBe(true);
    expect(await stop(client)).toBe(0);
  }, TEST_TIMEOUT);

  it('the NSE in cluster2 dies with its namespace → the client heals to the other NSE of the service there; ping to its address passes', async () => {
    clusters();
    const nscNs = ns.make('nsc');
    const nses = [
      { netns: ns.make('nse-a'), name: 'icmp-responder-a', address: '169.254.1.0' },
      { netns: ns.make('nse-b'), name: 'icmp-responder-b', address: '169.254.2.0' },
    ];
    const daemons = nses.map((n, i) => mesh().nse(n.netns, 1, n.name, `169.254.${i + 1}.0/24`));
    const client = mesh().nsc(nscNs, 'kernel://icmp-responder@cluster2/nsm-1');
    await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 40_000 }).toBe(1);
    const first = nses.findIndex((n) => n.name === segments(client)?.[7]);
    const [chosen, other] = [nses[first], nses[1 - first]] as [(typeof nses)[number], (typeof nses)[number]];
    expect(pings(nscNs, chosen.address)).toBe(true);
    await stop(daemons[first] as Daemon, 'SIGKILL');
    ns.remove(chosen.netns);
    await expect.poll(() => pings(nscNs, other.address), { timeout: 40_000, interval: 500 }).toBe(true);
    expect(await stop(client)).toBe(0);
  }, TEST_TIMEOUT);
});

import { join } from 'node:path';
import { expect, it } from 'vitest';
import { describeKernel, pings, tcpTransfer, useNamespaces } from '../kernel/namespaces.js';
import { CLUSTERS, clusterNamespaces, nsmRxCluster, upstreamCluster } from '../process/clusters.js';
import { nscEvents, stop, type Daemon } from '../process/processMesh.js';
import { useProcessMesh } from '../process/useProcessMesh.js';
import { referenceBinaries } from './reference.js';

const bin = referenceBinaries();
const mesh = useProcessMesh();

/** An upstream reference program (test/interop/go) inside netns `ns`, its SVID from the mesh's nsm-rx identity. */
const upstream = (ns: string, program: string, args: string[], env: Record<string, string> = {}): Daemon => mesh().run(ns, [join(bin as string, program), ...args], { NSM_LOG_LEVEL: 'INFO', ...env });

/** The client connected through both domains' proxies; ping and 1 MB of TCP over it. */
async function carriesTraffic(client: Daemon, nscNs: string, nseNs: string): Promise<void> {
  await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 60_000 }).toBe(1);
  expect(nscEvents(client, 'connected')[0]?.path.pathSegments.map((s) => s.name)).toEqual(['nsc', 'nsmgr-0', 'forwarder-0', 'nsmgr-proxy-cluster1', 'nsmgr-proxy-cluster2', 'nsmgr-1', 'forwarder-1', 'icmp-responder']);
  expect(pings(nscNs, '169.254.1.0')).toBe(true);
  expect(await tcpTransfer(nscNs, nseNs, '169.254.1.0', 1 << 20)).toBe(1 << 20);
  expect(await stop(client)).toBe(0);
}

const nseEnv = (nsmgr: string) => ({ NSM_NAME: 'icmp-responder', NSM_CONNECT_TO: nsmgr, NSM_SERVICE_NAMES: 'icmp-responder', NSM_CIDR_PREFIX: '169.254.1.0/24' });

describeKernel('interdomain with upstream (sdk v1.14.5): one cluster of nsm-rx, one of upstream’s registry-memory, registry-proxy-dns, nsmgr-proxy and nsmgr', () => {
  if (bin === undefined) return;
  const ns = useNamespaces();

  it('nsm-rx nsc in cluster1 (nsm-rx) → kernel://icmp-responder@cluster2/nsm-1 → upstream cluster2 (nsm-rx forwarder-kernel, upstream NSE): 8 segments, ping and TCP across', async () => {
    const { nodes, resolvConf, mapIp, clusterInfo } = clusterNamespaces(ns, mesh());
    const [ours, theirs] = CLUSTERS;
    nsmRxCluster(mesh(), nodes[0], 0, ours, { resolvConf, mapIp: mapIp(ours), clusterInfo: clusterInfo(ours) });
    const nsmgr = await upstreamCluster(mesh(), bin, nodes[1], 1, theirs, { dnsServer: ours.ip, mapIp: mapIp(theirs) });
    const [nscNs, nseNs] = [ns.make('nsc'), ns.make('nse')];
    const nse = upstream(nseNs, 'nse-icmp-responder', [], { ...nseEnv(nsmgr), NSM_LISTEN_ON: mesh().sock('go-nse') });
    await expect.poll(() => nse.out, { timeout: 20_000 }).toMatch(/"event":"registered"/);
    await carriesTraffic(mesh().nsc(nscNs, 'kernel://icmp-responder@cluster2/nsm-1'), nscNs, nseNs);
  });

  it('upstream nsc in cluster1 (upstream) → kernel://icmp-responder@cluster2/nsm-1 → nsm-rx cluster2 (nsm-rx NSE): 8 segments, ping and TCP across', async () => {
    const { nodes, resolvConf, mapIp, clusterInfo } = clusterNamespaces(ns, mesh());
    const [theirs, ours] = CLUSTERS;
    await mesh().nscPool(); // brings the mesh's identity provider up, which upstream's daemons wait for
    const nsmgr = await upstreamCluster(mesh(), bin, nodes[0], 0, theirs, { dnsServer: theirs.ip, mapIp: mapIp(theirs) });
    nsmRxCluster(mesh(), nodes[1], 1, ours, { resolvConf, mapIp: mapIp(ours), clusterInfo: clusterInfo(ours) });
    const [nscNs, nseNs] = [ns.make('nsc'), ns.make('nse')];
    mesh().nse(nseNs, 1);
    await carriesTraffic(upstream(nscNs, 'nsc', [], { NSM_NAME: 'nsc', NSM_CONNECT_TO: nsmgr, NSM_NETWORK_SERVICES: 'kernel://icmp-responder@cluster2/nsm-1' }), nscNs, nseNs);
  });
});

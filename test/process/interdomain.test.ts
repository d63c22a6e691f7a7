import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeKernel, ipJson, pings, tcpTransfer, underlay, useNamespaces } from '../kernel/namespaces.js';
import { dnsServerCommand, type DnsRecords } from '../dnsServer.js';
import { nscEvents, ProcessMesh, stop, type Daemon } from './processMesh.js';

let mesh: ProcessMesh;
beforeEach(() => {
  mesh = new ProcessMesh();
});
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') console.error(mesh.dump());
  await mesh.dispose();
});

/** The clusters' addresses on the underlay between their node namespaces. */
const CLUSTERS = [
  { domain: 'cluster1', ip: '169.254.250.1' },
  { domain: 'cluster2', ip: '169.254.250.2' },
] as const;
const FLOATING = { domain: 'floating.domain', registry: `tcp://${CLUSTERS[1].ip}:5010` };

/** The names every domain is found by, as a cluster's CoreDNS (k8s_external) would answer them. */
function records(): DnsRecords {
  const out: Record<string, DnsRecords[string]> = {};
  for (const { domain, ip } of CLUSTERS) {
    out[`registry.nsm-system.${domain}`] = { a: [ip], srvPort: 5002 };
    out[`nsmgr-proxy.nsm-system.${domain}`] = { a: [ip], srvPort: 5004 };
  }
  out[`registry.nsm-system.${FLOATING.domain}`] = { a: [CLUSTERS[1].ip], srvPort: 5010 };
  return out;
}

describeKernel('interdomain on the kernel datapath: two clusters (registry, registry-proxy-dns, nsmgr-proxy, nsmgr, forwarder-kernel), a floating registry, DNS', () => {
  const ns = useNamespaces();

  /**
   * Two cluster node namespaces joined by an underlay veth; in each the whole control plane of a
   * cluster as processes (nsmgr-0 in cluster1, nsmgr-1 in cluster2), a dns2 server on cluster1's
   * underlay address, and the floating registry in cluster2's namespace.
   */
  function clusters(): string[] {
    const nodes = CLUSTERS.map(({ domain }) => ns.make(domain));
    underlay(nodes[0] as string, nodes[1] as string, `${CLUSTERS[0].ip}/30`, `${CLUSTERS[1].ip}/30`);
    mesh.run(nodes[0], dnsServerCommand(records(), CLUSTERS[0].ip), {});
    const resolvConf = join(mesh.dir, 'resolv.conf');
    writeFileSync(resolvConf, `nameserver ${CLUSTERS[0].ip}\noptions timeout:1 attempts:3\n`);
    for (const [i, { domain, ip }] of CLUSTERS.entries()) {
      const node = nodes[i] as string;
      const mapIp = join(mesh.dir, `map-ip-${domain}.yaml`);
      writeFileSync(mapIp, `${ip}: ${ip}\n`);
      const clusterInfo = join(mesh.dir, `cluster-info-${domain}.yaml`);
      writeFileSync(clusterInfo, `clusterName: ${domain}\n`);
      mesh.start(node, 'registry-memory', { NSM_LISTEN_ON: `tcp://${ip}:5002`, NSM_PROXY_REGISTRY_URL: `tcp://${ip}:5004` });
      mesh.start(node, 'registry-proxy-dns', { NSM_LISTEN_ON: `tcp://${ip}:5005`, NSM_RESOLV_CONF: resolvConf });
      mesh.start(node, 'nsmgr-proxy', {
        NSM_NAME: `nsmgr-proxy-${domain}`,
        NSM_LISTEN_ON: `tcp://${ip}:5004`,
        NSM_REGISTRY_URL: `tcp://${ip}:5002`,
        NSM_REGISTRY_PROXY_URL: `tcp://${ip}:5005`,
        NSM_MAP_IP_FILE_PATH: mapIp,
        NSM_CLUSTER_INFO_FILE: clusterInfo,
      });
      mesh.start(node, 'nsmgr', { NSM_NAME: `nsmgr-${i}`, NSM_LISTEN_ON: `${mesh.sock(`nsmgr-${i}`)},tcp://${ip}:5001`, NSM_REGISTRY_URL: `tcp://${ip}:5002`, NSM_EXCLUDED_PREFIXES_FILE: join(mesh.dir, `excluded-${i}.yaml`) });
      mesh.forwarder(node, i, `forwarder-${i}`, ip);
    }
    mesh.start(nodes[1], 'registry-memory', { NSM_LISTEN_ON: FLOATING.registry });
    return nodes;
  }

  const segments = (client: Daemon, n = 0) => nscEvents(client, 'connected')[n]?.path.pathSegments.map((s) => s.name);
  const linksIn = (netns: string) => ipJson<{ ifname: string }[]>(netns, ['link', 'show']).filter((l) => l.ifname !== 'lo').map((l) => l.ifname);

  it('an nsc in cluster1 asks for kernel://icmp-responder@cluster2/nsm-1: 8 segments through both nsmgr-proxies, VXLAN between the clusters; ping and TCP pass; SIGTERM removes every link', async () => {
    clusters();
    const [nscNs, nseNs] = [ns.make('nsc'), ns.make('nse')];
    mesh.nse(nseNs, 1);
    const client = mesh.nsc(nscNs, 'kernel://icmp-responder@cluster2/nsm-1');
    await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 40_000 }).toBe(1);
    expect(segments(client)).toEqual(['nsc', 'nsmgr-0', 'forwarder-0', 'nsmgr-proxy-cluster1', 'nsmgr-proxy-cluster2', 'nsmgr-1', 'forwarder-1', 'icmp-responder']);
    expect(ipJson<{ linkinfo?: { info_kind?: string } }[]>(nscNs, ['-d', 'link', 'show', 'nsm-1'])[0]?.linkinfo?.info_kind).toBe('vxlan');
    expect(pings(nscNs, '169.254.1.0')).toBe(true);
    expect(await tcpTransfer(nscNs, nseNs, '169.254.1.0', 1 << 20)).toBe(1 << 20);
    expect(await stop(client)).toBe(0);
    expect(linksIn(nscNs)).toEqual([]);
    expect(linksIn(nseNs)).toEqual([]);
  });

  it('floating: an NSE of cluster2 registered as icmp-floating@floating.domain is found in the floating registry from cluster1; ping passes', async () => {
    clusters();
    const [nscNs, nseNs] = [ns.make('nsc'), ns.make('nse')];
    mesh.start(nseNs, 'nse-icmp-responder', { NSM_NAME: 'icmp-floating@floating.domain', NSM_CONNECT_TO: mesh.sock('nsmgr-1'), NSM_SERVICE_NAMES: 'icmp-responder@floating.domain', NSM_CIDR_PREFIX: '169.254.3.0/24' });
    const client = mesh.nsc(nscNs, 'kernel://icmp-responder@floating.domain/nsm-1');
    await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 40_000 }).toBe(1);
    expect(segments(client)).toEqual(['nsc', 'nsmgr-0', 'forwarder-0', 'nsmgr-proxy-cluster1', 'nsmgr-proxy-cluster2', 'nsmgr-1', 'forwarder-1', 'icmp-floating@floating.domain']);
    expect(pings(nscNs, '169.254.3.0')).toBe(true);
    expect(await stop(client)).toBe(0);
  });

  it('the NSE in cluster2 dies with its namespace → the client heals to the other NSE of the service there; ping to its address passes', async () => {
    clusters();
    const nscNs = ns.make('nsc');
    const nses = [
      { netns: ns.make('nse-a'), name: 'icmp-responder-a', address: '169.254.1.0' },
      { netns: ns.make('nse-b'), name: 'icmp-responder-b', address: '169.254.2.0' },
    ];
    const daemons = nses.map((n, i) => mesh.nse(n.netns, 1, n.name, `169.254.${i + 1}.0/24`));
    const client = mesh.nsc(nscNs, 'kernel://icmp-responder@cluster2/nsm-1');
    await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 40_000 }).toBe(1);
    const first = nses.findIndex((n) => n.name === segments(client)?.[7]);
    const [chosen, other] = [nses[first], nses[1 - first]] as [(typeof nses)[number], (typeof nses)[number]];
    expect(pings(nscNs, chosen.address)).toBe(true);
    await stop(daemons[first] as Daemon, 'SIGKILL');
    ns.remove(chosen.netns);
    await expect.poll(() => pings(nscNs, other.address), { timeout: 40_000, interval: 500 }).toBe(true);
    expect(await stop(client)).toBe(0);
  });
});

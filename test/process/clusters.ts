import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { underlay } from '../kernel/netns.js';
import { dnsServerCommand, type DnsRecords } from '../dnsServer.js';
import type { ProcessMesh } from './processMesh.js';

/** Two clusters' node namespaces on one underlay (169.254.250.0/30); the DNS server answers on the first. */
export const CLUSTERS = [
  { domain: 'cluster1', ip: '169.254.250.1' },
  { domain: 'cluster2', ip: '169.254.250.2' },
] as const;
export type Cluster = (typeof CLUSTERS)[number];

/** The floating domain: a registry alone, in cluster2's namespace. */
export const FLOATING = { domain: 'floating.domain', registry: `tcp://${CLUSTERS[1].ip}:5010` };

/** Ports as upstream's deployments use them: registry 5002, nsmgr-proxy 5004, registry-proxy-dns 5005, nsmgr 5001. */
export const urls = (c: Cluster) => ({ nsmgr: `tcp://${c.ip}:5001`, registry: `tcp://${c.ip}:5002`, nsmgrProxy: `tcp://${c.ip}:5004`, registryProxy: `tcp://${c.ip}:5005` });

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

/**
 * The two cluster namespaces joined by the underlay, a dns2 server on cluster1's address (port
 * 53), and per cluster a map-ip file (its address to itself: a flat underlay) and a cluster-info
 * file; `resolvConf` names the DNS server for nsm-rx's registry-proxy-dns.
 */
export function clusterNamespaces(ns: { make(label: string): string }, mesh: ProcessMesh): { nodes: [string, string]; resolvConf: string; mapIp: (c: Cluster) => string; clusterInfo: (c: Cluster) => string } {
  const nodes = [ns.make(CLUSTERS[0].domain), ns.make(CLUSTERS[1].domain)] as [string, string];
  underlay(nodes[0], nodes[1], `${CLUSTERS[0].ip}/30`, `${CLUSTERS[1].ip}/30`);
  mesh.run(nodes[0], dnsServerCommand(records(), CLUSTERS[0].ip), {});
  const resolvConf = join(mesh.dir, 'resolv.conf');
  writeFileSync(resolvConf, `nameserver ${CLUSTERS[0].ip}\noptions timeout:1 attempts:3\n`);
  const mapIp = (c: Cluster) => join(mesh.dir, `map-ip-${c.domain}.yaml`);
  const clusterInfo = (c: Cluster) => join(mesh.dir, `cluster-info-${c.domain}.yaml`);
  for (const c of CLUSTERS) {
    writeFileSync(mapIp(c), `${c.ip}: ${c.ip}\n`);
    writeFileSync(clusterInfo(c), `clusterName: ${c.domain}\n`);
  }
  return { nodes, resolvConf, mapIp, clusterInfo };
}

/** `forwarder-<i>` through `nsmgr-<i>`: forwarder-kernel with its tunnel on the underlay, or forwarder-noop (control plane only). */
function forwarder(mesh: ProcessMesh, node: string, i: number, c: Cluster, kind: Forwarder): void {
  if (kind === 'forwarder-kernel') mesh.forwarder(node, i, `forwarder-${i}`, c.ip);
  else mesh.start(node, 'forwarder-noop', { NSM_NAME: `forwarder-${i}`, NSM_CONNECT_TO: mesh.sock(`nsmgr-${i}`), NSM_LISTEN_ON: mesh.sock(`forwarder-${i}`) });
}
export type Forwarder = 'forwarder-kernel' | 'forwarder-noop';

/**
 * An nsm-rx cluster in `node` as processes: registry-memory (name@domain → its nsmgr-proxy),
 * registry-proxy-dns, nsmgr-proxy, `nsmgr-<i>` and `forwarder-<i>`.
 */
export function nsmRxCluster(mesh: ProcessMesh, node: string, i: number, c: Cluster, files: { resolvConf: string; mapIp: string; clusterInfo: string }, kind: Forwarder = 'forwarder-kernel'): void {
  const u = urls(c);
  mesh.start(node, 'registry-memory', { NSM_LISTEN_ON: u.registry, NSM_PROXY_REGISTRY_URL: u.nsmgrProxy });
  mesh.start(node, 'registry-proxy-dns', { NSM_LISTEN_ON: u.registryProxy, NSM_RESOLV_CONF: files.resolvConf });
  mesh.start(node, 'nsmgr-proxy', {
    NSM_NAME: `nsmgr-proxy-${c.domain}`,
    NSM_LISTEN_ON: u.nsmgrProxy,
    NSM_REGISTRY_URL: u.registry,
    NSM_REGISTRY_PROXY_URL: u.registryProxy,
    NSM_MAP_IP_FILE_PATH: files.mapIp,
    NSM_CLUSTER_INFO_FILE: files.clusterInfo,
  });
  mesh.start(node, 'nsmgr', { NSM_NAME: `nsmgr-${i}`, NSM_LISTEN_ON: `${mesh.sock(`nsmgr-${i}`)},${u.nsmgr}`, NSM_REGISTRY_URL: u.registry, NSM_EXCLUDED_PREFIXES_FILE: join(mesh.dir, `excluded-${i}.yaml`) });
  forwarder(mesh, node, i, c, kind);
}

/**
 * Upstream's cluster `c` in `node` from the reference programs in `bin` (registry-memory,
 * registry-proxy-dns asking `dnsServer`:53, nsmgr-proxy, `nsmgr-<i>`) with nsm-rx's forwarder
 * (the module proxy serves no upstream one); resolves with the nsmgr's socket once it serves.
 */
export async function upstreamCluster(mesh: ProcessMesh, bin: string, node: string, i: number, c: Cluster, files: { dnsServer: string; mapIp: string }, kind: Forwarder = 'forwarder-kernel'): Promise<string> {
  const u = urls(c);
  const run = (program: string, args: string[], env: Record<string, string> = {}) => mesh.run(node, [join(bin, program), ...args], { NSM_LOG_LEVEL: 'INFO', ...env });
  run('registry-memory', [u.registry], { NSM_PROXY_REGISTRY_URL: u.nsmgrProxy });
  run('registry-proxy-dns', [u.registryProxy], { NSM_TEST_DNS_SERVER: `${files.dnsServer}:53` });
  run('nsmgr-proxy', [u.nsmgrProxy], { NSM_NAME: `nsmgr-proxy-${c.domain}`, NSM_REGISTRY_URL: u.registry, NSM_REGISTRY_PROXY_URL: u.registryProxy, NSM_MAP_IP_FILE_PATH: files.mapIp });
  const nsmgr = mesh.sock(`nsmgr-${i}`);
  run('nsmgr', [`nsmgr-${i}`, `${nsmgr},${u.nsmgr}`, u.nsmgr, u.registry]);
  for (const end = Date.now() + 20_000; !existsSync(nsmgr.slice('unix://'.length)); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > end) throw new Error(`upstream nsmgr-${i} is not serving:\n${mesh.dump()}`);
  }
  forwarder(mesh, node, i, c, kind);
  return nsmgr;
}

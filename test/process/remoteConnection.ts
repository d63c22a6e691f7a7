import { execFileSync } from 'node:child_process';
import { expect } from 'vitest';
import { underlay, type useNamespaces } from '../kernel/namespaces.js';
import { nscEvents, type Daemon, type ProcessMesh } from './processMesh.js';

/**
 * Two node namespaces joined by an underlay veth (169.254.250.0/30), a node's control plane in
 * each (nsmgrs on TCP across it) and the NSE behind node 1; nsc's go behind node 0.
 */
export function twoNodes(mesh: ProcessMesh, ns: ReturnType<typeof useNamespaces>): { nodes: [string, string]; nseNs: string } {
  const [node0, node1, nseNs] = [ns.make('node0'), ns.make('node1'), ns.make('nse')];
  underlay(node0, node1, '169.254.250.1/30', '169.254.250.2/30');
  // A wire between nodes carries finished checksums (a NIC fills them in); a veth underlay would
  // hand half-done ones to an OVS userspace datapath, which never finishes them.
  for (const [n, dev] of [[node0, 'u0'], [node1, 'u1']] as const) execFileSync('ip', ['netns', 'exec', n, 'ethtool', '-K', dev, 'tx', 'off'], { stdio: 'ignore' });
  mesh.node(node0, 0, '169.254.250.1');
  mesh.node(node1, 1, '169.254.250.2');
  mesh.nse(nseNs, 1);
  return { nodes: [node0, node1], nseNs };
}

/** An nsc behind node 0 of `twoNodes`, connected to the NSE behind node 1: the path runs over VXLAN. `env`: the nsc's own variables. */
export async function remoteNsc(mesh: ProcessMesh, nscNs: string, env: Record<string, string> = {}): Promise<Daemon> {
  const client = mesh.nsc(nscNs, undefined, env);
  await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 30_000 }).toBe(1);
  expect(nscEvents(client, 'connected')[0]?.path.pathSegments.map((s) => s.name)).toEqual(['nsc', 'nsmgr-0', 'forwarder-0', 'nsmgr-1', 'forwarder-1', 'icmp-responder']);
  return client;
}

/** `twoNodes` with an nsc connected over them. */
export async function remoteConnection(mesh: ProcessMesh, ns: ReturnType<typeof useNamespaces>): Promise<{ nscNs: string; nseNs: string; client: Daemon }> {
  const { nseNs } = twoNodes(mesh, ns);
  const nscNs = ns.make('nsc');
  return { nscNs, nseNs, client: await remoteNsc(mesh, nscNs) };
}

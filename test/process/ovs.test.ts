import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { describeKernel, ipJson, pings, tcpTransfer, underlay, useNamespaces } from '../kernel/namespaces.js';
import { ovsMissing } from '../ovs/ovsdbServer.js';
import { ovsDaemonsIn, useOvsForwarders } from '../ovs/ovsForwarders.js';
import { nscEvents, pinger, stop } from './processMesh.js';
import { useProcessMesh } from './useProcessMesh.js';

const mesh = useProcessMesh();

/** The bridge-side veth ends and VXLAN ports (o + 14 hex digits) in netns `ns`, as `name#ifindex` (a port made again has a new index). */
const bridgePorts = (ns: string) =>
  ipJson<{ ifname: string; ifindex: number }[]>(ns, ['link', 'show'])
    .filter((l) => /^o[0-9a-f]{14}$/.test(l.ifname))
    .map((l) => `${l.ifname}#${l.ifindex}`);

const describeOvs = (name: string, body: () => void) => (ovsMissing() ? describeKernel(`${name} (skipped: ${ovsMissing() ?? ''})`, () => undefined) : describeKernel(name, body));

describeOvs('forwarder-ovs as a process (Open vSwitch it starts itself, userspace datapath)', () => {
  const ns = useNamespaces();
  const { kind: ovs } = useOvsForwarders();

  it('local: ping and TCP through the bridge; kill -9 under a running ping, a new forwarder-ovs removes its predecessor’s ports and the client heals through it; SIGTERM stops the OVS it started', async () => {
    const [host, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    const kind = ovs();
    const rundir = kind.env?.['OVS_RUNDIR'] ?? '';
    const { forwarder } = mesh().node(host, 0, undefined, kind);
    mesh().nse(nseNs, 0);
    const client = mesh().nsc(nscNs);
    await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 30_000 }).toBe(1);
    expect(ovsDaemonsIn(rundir)).toEqual(['ovs-vswitchd', 'ovsdb-server']);
    expect(bridgePorts(host)).toHaveLength(2);
    await expect.poll(() => pings(nscNs, '169.254.1.0'), { timeout: 10_000 }).toBe(true);
    expect(await tcpTransfer(nscNs, nseNs, '169.254.1.0', 4 << 20)).toBe(4 << 20);

    const ping = pinger(nscNs, '169.254.1.0');
    try {
      const before = bridgePorts(host);
      expect(await stop(forwarder, 'SIGKILL')).not.toBe(0);
      const successor = mesh().forwarder(host, 0, 'forwarder-0', undefined, kind);
      // The successor removes its predecessor's ports; the client's heal makes new ones through it.
      await expect.poll(() => bridgePorts(host).filter((p) => !before.includes(p)).length, { timeout: 45_000 }).toBe(2);
      expect(bridgePorts(host)).toHaveLength(2);
      const healedAt = Date.now() / 1000;
      await expect.poll(() => ping.replies().filter((t) => t > healedAt).length, { timeout: 15_000 }).toBeGreaterThan(5);
      expect(await stop(client)).toBe(0);
      await expect.poll(() => bridgePorts(host), { timeout: 10_000 }).toEqual([]);
      expect(await stop(successor)).toBe(0);
    } finally {
      ping.stop();
    }
    expect(ovsDaemonsIn(rundir)).toEqual([]);
  }, 120_000);

  it.each([['forwarder-kernel'], ['forwarder-ovs']] as const)('remote: forwarder-ovs on one node, %s on the other, joined by VXLAN: ping and TCP both ways', async (other) => {
    const [node0, node1, nsc0, nse1, nsc1, nse0] = [ns.make('node0'), ns.make('node1'), ns.make('nsc0'), ns.make('nse1'), ns.make('nsc1'), ns.make('nse0')];
    underlay(node0, node1, '169.254.250.1/30', '169.254.250.2/30');
    // A wire between nodes carries finished checksums (a NIC fills them in); a veth underlay would
    // hand the kernel node's half-done ones to OVS's userspace datapath, which never finishes them.
    for (const [n, dev] of [[node0, 'u0'], [node1, 'u1']] as const) execFileSync('ip', ['netns', 'exec', n, 'ethtool', '-K', dev, 'tx', 'off']);
    const kinds = [ovs(), other === 'forwarder-ovs' ? ovs() : undefined];
    const nodes = [mesh().node(node0, 0, '169.254.250.1', kinds[0]), mesh().node(node1, 1, '169.254.250.2', kinds[1])];
    mesh().start(nse1, 'nse-icmp-responder', { NSM_NAME: 'nse-1', NSM_CONNECT_TO: mesh().sock('nsmgr-1'), NSM_SERVICE_NAMES: 'behind-kernel', NSM_CIDR_PREFIX: '169.254.2.0/24' });
    mesh().start(nse0, 'nse-icmp-responder', { NSM_NAME: 'nse-0', NSM_CONNECT_TO: mesh().sock('nsmgr-0'), NSM_SERVICE_NAMES: 'behind-ovs', NSM_CIDR_PREFIX: '169.254.3.0/24' });
    const clients = [
      { netns: nsc0, nse: nse1, ip: '169.254.2.0', daemon: mesh().start(nsc0, 'nsc', { NSM_NAME: 'nsc0', NSM_CONNECT_TO: mesh().sock('nsmgr-0'), NSM_NETWORK_SERVICES: 'kernel://behind-kernel/nsm-1' }) },
      { netns: nsc1, nse: nse0, ip: '169.254.3.0', daemon: mesh().start(nsc1, 'nsc', { NSM_NAME: 'nsc1', NSM_CONNECT_TO: mesh().sock('nsmgr-1'), NSM_NETWORK_SERVICES: 'kernel://behind-ovs/nsm-1' }) },
    ];
    for (const c of clients) {
      await expect.poll(() => nscEvents(c.daemon, 'connected').length, { timeout: 30_000 }).toBe(1);
      expect(nscEvents(c.daemon, 'connected')[0]?.path.pathSegments.map((s) => s.name)).toEqual(expect.arrayContaining(['forwarder-0', 'forwarder-1']));
      await expect.poll(() => pings(c.netns, c.ip), { timeout: 10_000 }).toBe(true);
      expect(await tcpTransfer(c.netns, c.nse, c.ip, 4 << 20)).toBe(4 << 20);
      expect(await stop(c.daemon)).toBe(0);
    }
    for (const [i, kind] of kinds.entries()) {
      if (kind === undefined) continue;
      await expect.poll(() => bridgePorts([node0, node1][i] ?? ''), { timeout: 10_000 }).toEqual([]);
      expect(await stop(nodes[i]!.forwarder)).toBe(0);
      expect(ovsDaemonsIn(kind.env?.['OVS_RUNDIR'] ?? '')).toEqual([]);
    }
  }, 120_000);
});

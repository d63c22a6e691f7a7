import { execFileSync } from 'node:child_process';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { point2pointIpam } from '../../operators/networkservice/point2pointIpam.js';
import { ipJson, pings, tcpTransfer, underlay, useNamespaces } from '../../test/kernel/namespaces.js';
import { inodeUrlOf } from '../../test/kernel/netns.js';
import { describeOvs, startOvsdbServer, startVswitchd, type OvsdbServer, type Vswitchd } from '../../test/ovs/ovsdbServer.js';
import { Mesh } from '../../test/sandbox/mesh.js';
import { Sandbox, type SandboxClient } from '../../test/sandbox/sandbox.js';
import { kernelDatapathMissing } from '../kernel/host.js';
import { KernelDatapath } from '../kernel/kernel.js';
import { OvsdbClient } from './ovsdb.js';
import { OvsdbSession } from './ovsdbSession.js';
import { offloadsOff } from './ethtool.js';
import { OvsDatapath } from './ovsDatapath.js';
import { flowCookies, type OpenFlowBridge } from './openflow.js';
import { addPort, portsMarked } from './vswitch.js';

describeOvs('the OVS datapath under a forwarder: nsc → nsmgr → forwarder (OVS, userspace datapath) → NSE, on real namespaces', () => {
  if (kernelDatapathMissing()) return;
  const ns = useNamespaces();
  let db: OvsdbServer;
  let vswitchd: Vswitchd;
  let ovsdb: OvsdbClient;
  let session: OvsdbSession;
  let sandbox: Sandbox;
  let node: string;
  beforeEach(async () => {
    node = ns.make('ovs-node');
    db = await startOvsdbServer();
    vswitchd = await startVswitchd(db, node);
    ovsdb = await OvsdbClient.connect(db.url);
    session = new OvsdbSession(db.url, { retryMs: 100 });
    sandbox = await Sandbox.create();
  });
  afterEach(async () => {
    await sandbox.cleanup();
    await session.close();
    await ovsdb.close();
    await vswitchd.stop();
    await db.remove();
  });

  const linksOfNode = () => ipJson<{ ifname: string }[]>(node, ['link', 'show']).map((l) => l.ifname).filter((n) => /^o[0-9a-f]{14}$/.test(n)); // the bridge-side veth ends

  async function connect(datapath: OvsDatapath, retry = true): Promise<{ client: SandboxClient; conn: Connection; nsc: string; nse: string }> {
    const [nsc, nse] = [ns.make('nsc'), ns.make('nse')];
    const mesh = await Mesh.build(sandbox, { defaultForwarder: false });
    await mesh.addForwarder(0, { datapath });
    await mesh.endpoint(0, 'nse', { services: ['icmp-responder'], additional: [point2pointIpam(['169.254.80.0/24'])], netnsUrl: () => inodeUrlOf(nse) });
    const client = sandbox.client('nsc', (mesh.nodes[0] as { nsmgr: { url: Parameters<Sandbox['client']>[1] } }).nsmgr.url, { heal: false, retry });
    const conn = await client.request({ connection: { id: 'c1', networkService: 'icmp-responder' }, mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { inodeURL: inodeUrlOf(nsc), name: 'nsm-1' } }] });
    return { client, conn, nsc, nse };
  }

  const start = (owner: string, tunnelIp?: string) =>
    OvsDatapath.start({ owner, ovsdb: session, bridge: { bridge: 'br-nsm', rundir: vswitchd.rundir }, datapathType: 'netdev', nodeNetns: `/run/netns/${node}`, ...(tunnelIp ? { tunnelIp } : {}) });

  it('a connection through the bridge carries ping and TCP, counted in its metrics from OVS’s port statistics; Close leaves no port, flow or veth', async () => {
    const datapath = await start('forwarder-0');
    const bridge: OpenFlowBridge = { bridge: 'br-nsm', rundir: vswitchd.rundir };
    const { client, conn, nsc, nse } = await connect(datapath);
    expect(await portsMarked(ovsdb, 'nsm-rx-forwarder', 'forwarder-0')).toHaveLength(2);
    expect(await lastValueFrom(flowCookies(bridge))).toHaveLength(1);
    await expect.poll(() => pings(nsc, '169.254.80.0'), { timeout: 10_000 }).toBe(true);
    expect(await tcpTransfer(nsc, nse, '169.254.80.0', 2 << 20)).toBe(2 << 20);
    // Counters from OVS's statistics of the ports (refreshed every 5 s), as the workload interfaces see them.
    const atForwarder = conn.path?.pathSegments.find((s) => s.name.includes('forwarder'))?.id ?? '';
    const sent = async () => Number((await firstValueFrom(datapath.metrics(atForwarder)))['server_tx_bytes']);
    await expect.poll(sent, { timeout: 15_000 }).toBeGreaterThanOrEqual(2 << 20);
    expect(await firstValueFrom(datapath.metrics(atForwarder))).toMatchObject({ server_interface: 'nsm-1', client_interface: expect.stringMatching(/^icmp-respo/) });
    await client.close(conn);
    expect(datapath.size).toBe(0);
    expect(await portsMarked(ovsdb, 'nsm-rx-forwarder', 'forwarder-0')).toEqual([]);
    expect(await lastValueFrom(flowCookies(bridge))).toEqual([]);
    expect(linksOfNode()).toEqual([]);
    expect(sandbox.leftovers()).toEqual([]);
  });

  it('without userspace TSO (an ovs-vswitchd started without it): TX checksum offload off on both veth ends, and TCP passes all the same', async () => {
    await vswitchd.stop();
    vswitchd = await startVswitchd(db, node, { userspaceTso: false });
    const datapath = await start('forwarder-0');
    const { client, conn, nsc, nse } = await connect(datapath);
    const txOffload = (netns: string, dev: string) => execFileSync('ip', ['netns', 'exec', netns, 'ethtool', '-k', dev], { encoding: 'utf8' }).match(/^tx-checksumming: (\w+)/m)?.[1];
    expect([txOffload(nsc, 'nsm-1'), ...linksOfNode().map((port) => txOffload(node, port))]).toEqual(['off', 'off', 'off']);
    await expect.poll(() => pings(nsc, '169.254.80.0'), { timeout: 10_000 }).toBe(true);
    expect(await tcpTransfer(nsc, nse, '169.254.80.0', 2 << 20)).toBe(2 << 20);
    await client.close(conn);
    expect(linksOfNode()).toEqual([]);
  });

  it('a restarted forwarder removes exactly its predecessor’s ports, flows and veths, and nothing of another’s', async () => {
    const bridge: OpenFlowBridge = { bridge: 'br-nsm', rundir: vswitchd.rundir };
    await connect(await start('forwarder-0'));
    expect(linksOfNode()).toHaveLength(2);
    await addPort(ovsdb, 'br-nsm', { name: 'foreign', type: 'internal', externalIds: { 'nsm-rx-forwarder': 'forwarder-9' } });
    // The successor (same name) starts while the predecessor's connection is still in place.
    const successor = await start('forwarder-0');
    expect(successor.size).toBe(0);
    expect(await portsMarked(ovsdb, 'nsm-rx-forwarder', 'forwarder-0')).toEqual([]);
    expect(await portsMarked(ovsdb, 'nsm-rx-forwarder', 'forwarder-9')).toEqual(['foreign']);
    expect(await lastValueFrom(flowCookies(bridge))).toEqual([]);
    expect(linksOfNode()).toEqual([]);
  });

  it('mixed nodes over VXLAN: the OVS forwarder on one node, the kernel forwarder on the other, both ways; ping and TCP (MTU left for VXLAN); nothing left after Close', async () => {
    const other = ns.make('kernel-node');
    underlay(node, other, '169.254.250.1/30', '169.254.250.2/30');
    // A wire between nodes carries finished checksums (a NIC fills them in); a veth underlay would
    // hand the kernel node's half-done ones to OVS's userspace datapath, which never finishes them.
    for (const [netns, dev] of [[node, 'u0'], [other, 'u1']] as const) await lastValueFrom(offloadsOff(dev, `/run/netns/${netns}`, ['tx']), { defaultValue: undefined });
    const ovs = await start('forwarder-0', '169.254.250.1');
    const mesh = await Mesh.build(sandbox, { nodes: 2, defaultForwarder: false });
    await mesh.addForwarder(0, { datapath: ovs });
    await mesh.addForwarder(1, { datapath: new KernelDatapath({ tunnelIp: '169.254.250.2', underlayNetns: `/run/netns/${other}` }) });
    const nsmgr = (i: number) => (mesh.nodes[i] as { nsmgr: { url: Parameters<Sandbox['client']>[1] } }).nsmgr.url;
    for (const [clientNode, endpointNode, service, prefix] of [[0, 1, 'to-kernel', '169.254.81.0/24'], [1, 0, 'to-ovs', '169.254.82.0/24']] as const) {
      const [nsc, nse] = [ns.make('nsc'), ns.make('nse')];
      await mesh.endpoint(endpointNode, `nse-${service}`, { services: [service], additional: [point2pointIpam([prefix])], netnsUrl: () => inodeUrlOf(nse) });
      const client = sandbox.client(`nsc-${service}`, nsmgr(clientNode), { heal: false });
      const conn = await client.request({ connection: { id: service, networkService: service }, mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { inodeURL: inodeUrlOf(nsc), name: 'nsm-1' } }] });
      const endpointIp = (conn.context?.ipContext?.dstIpAddrs[0] ?? '').split('/')[0] ?? '';
      await expect.poll(() => pings(nsc, endpointIp), { timeout: 10_000 }).toBe(true);
      expect(await tcpTransfer(nsc, nse, endpointIp, 2 << 20)).toBe(2 << 20);
      await client.close(conn);
    }
    expect(ovs.size).toBe(0);
    expect(await portsMarked(ovsdb, 'nsm-rx-forwarder', 'forwarder-0')).toEqual([]);
    expect(linksOfNode()).toEqual([]);
    expect(sandbox.leftovers()).toEqual([]);
  });

  it('a flow ovs-vswitchd refuses (its flow table full) fails the Request with OVS’s reason, and nothing is left half-programmed', async () => {
    const datapath = await start('forwarder-0');
    const bridge: OpenFlowBridge = { bridge: 'br-nsm', rundir: vswitchd.rundir };
    // Table 0 holds the bridge's own NORMAL flow and refuses more: the connection's two flows do not fit.
    await ovsdb.transact('Open_vSwitch', [
      { op: 'insert', table: 'Flow_Table', row: { name: 'full', flow_limit: 1, overflow_policy: 'refuse' }, 'uuid-name': 'full' },
      { op: 'update', table: 'Bridge', where: [['name', '==', 'br-nsm']], row: { flow_tables: ['map', [[0, ['named-uuid', 'full']]]] } },
    ]);
    const before = await lastValueFrom(flowCookies(bridge));
    await expect(connect(datapath, false)).rejects.toThrow(/table.*full|TABLE_FULL/i);
    expect(datapath.size).toBe(0);
    expect(await portsMarked(ovsdb, 'nsm-rx-forwarder', 'forwarder-0')).toEqual([]);
    expect(await lastValueFrom(flowCookies(bridge))).toEqual(before);
    expect(linksOfNode()).toEqual([]);
    expect(sandbox.leftovers()).toEqual([]);
  });

  it('ovsdb-server restarts under a running forwarder: the next connection is made all the same, and goes on Close', async () => {
    const datapath = await start('forwarder-0');
    await db.kill();
    await db.start();
    const { client, conn, nsc } = await connect(datapath);
    await expect.poll(() => pings(nsc, '169.254.80.0'), { timeout: 15_000 }).toBe(true);
    await client.close(conn);
    const fresh = await OvsdbClient.connect(db.url);
    try {
      expect(await portsMarked(fresh, 'nsm-rx-forwarder', 'forwarder-0')).toEqual([]);
    } finally {
      await fresh.close();
    }
    expect(linksOfNode()).toEqual([]);
  });

  it('a refresh toward another endpoint netns (a heal that reselected) makes the connection anew there and leaves nothing at the old one', async () => {
    const datapath = await start('forwarder-0');
    const [nsc, nse1, nse2] = [ns.make('nsc'), ns.make('nse1'), ns.make('nse2')];
    const side = (netns: string, name: string, address: string) =>
      Connection.fromPartial({ id: 'c1', networkService: 'svc', mechanism: { cls: 'LOCAL', type: 'KERNEL', parameters: { inodeURL: inodeUrlOf(netns), name } }, context: { ipContext: { srcIpAddrs: [address] } } });
    const links = (netns: string) => ipJson<{ ifname: string }[]>(netns, ['link', 'show']).map((l) => l.ifname).filter((n) => n !== 'lo');
    const ifindex = (netns: string, name: string) => ipJson<{ ifindex: number }[]>(netns, ['link', 'show', name])[0]?.ifindex;
    const incoming = side(nsc, 'nsm-1', '169.254.90.1/32');
    await lastValueFrom(datapath.program({ incoming, outgoing: side(nse1, 'e1', '169.254.90.1/32') }));
    expect(links(nse1)).toEqual(['e1']);
    const made = ifindex(nse1, 'e1');
    await lastValueFrom(datapath.program({ incoming, outgoing: side(nse1, 'e1', '169.254.90.1/32') })); // a plain refresh: nothing remade
    expect(ifindex(nse1, 'e1')).toBe(made);
    await lastValueFrom(datapath.program({ incoming, outgoing: side(nse2, 'e2', '169.254.90.1/32') }));
    expect([links(nse1), links(nse2), links(nsc)]).toEqual([[], ['e2'], ['nsm-1']]);
    expect(linksOfNode()).toHaveLength(2);
    await lastValueFrom(datapath.unprogram({ incoming, outgoing: side(nse2, 'e2', '169.254.90.1/32') }), { defaultValue: undefined });
    expect([links(nse2), links(nsc), linksOfNode()]).toEqual([[], [], []]);
  });
});

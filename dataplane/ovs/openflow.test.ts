import { execFileSync } from 'node:child_process';
import { lastValueFrom } from 'rxjs';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { pings, tcpTransfer, useNamespaces } from '../../test/kernel/namespaces.js';
import { describeOvs, startOvsdbServer, startVswitchd, type OvsdbServer, type Vswitchd } from '../../test/ovs/ovsdbServer.js';
import { kernelDatapathMissing } from '../kernel/host.js';
import { offloadsOff } from './ethtool.js';
import { OvsdbClient } from './ovsdb.js';
import { addFlows, crossConnect, deleteFlows, flowCookies, type OpenFlowBridge } from './openflow.js';
import { addPort, ensureBridge } from './vswitch.js';

const ip = (...args: string[]) => execFileSync('ip', args);

describeOvs('OpenFlow on a real ovs-vswitchd (userspace datapath): two namespaces joined by cookie flows', () => {
  if (kernelDatapathMissing()) return;
  const ns = useNamespaces();
  let db: OvsdbServer;
  let vswitchd: Vswitchd;
  let client: OvsdbClient;
  let node: string;
  beforeEach(async () => {
    node = ns.make('ovs-node');
    db = await startOvsdbServer();
    vswitchd = await startVswitchd(db, node);
    client = await OvsdbClient.connect(db.url);
  });
  afterEach(async () => {
    await client.close();
    await vswitchd.stop();
    await db.remove();
  });

  /** A veth pair: `nsm-1` (with `address`) in netns `netns`, its peer `outside` in the node's netns, a port of the bridge. */
  async function attach(netns: string, outside: string, address: string): Promise<void> {
    ip('link', 'add', outside, 'netns', node, 'type', 'veth', 'peer', 'name', 'nsm-1', 'netns', netns);
    ip('-n', netns, 'addr', 'add', address, 'dev', 'nsm-1');
    ip('-n', netns, 'link', 'set', 'nsm-1', 'up');
    ip('-n', node, 'link', 'set', outside, 'up');
    await lastValueFrom(offloadsOff('nsm-1', `/run/netns/${netns}`, ['tx']), { defaultValue: undefined });
    await lastValueFrom(offloadsOff(outside, `/run/netns/${node}`, ['tx']), { defaultValue: undefined });
    await addPort(client, 'br-nsm', { name: outside, externalIds: { 'nsm-rx-test': 'yes' } });
  }

  it('flows with a connection’s cookie carry ping and TCP; removed by that cookie, they are gone and other flows stay; a refused flow adds none of its bundle', async () => {
    const [a, b] = [ns.make('ovs-a'), ns.make('ovs-b')];
    expect(await ensureBridge(client, 'br-nsm', 'netdev')).toBe(true);
    const bridge: OpenFlowBridge = { bridge: 'br-nsm', rundir: vswitchd.rundir };
    await attach(a, 'port-a', '169.254.70.1/30');
    await attach(b, 'port-b', '169.254.70.2/30');
    const [pa, pb] = ['port-a', 'port-b'];
    await expect.poll(() => lastValueFrom(addFlows(bridge, 0x11n, crossConnect(pa, pb))).then(() => true), { timeout: 10_000 }).toBe(true);
    await lastValueFrom(addFlows(bridge, 0x22n, ['priority=1,actions=drop']));
    await expect.poll(() => pings(a, '169.254.70.2'), { timeout: 10_000 }).toBe(true); // the first packets may be lost while the port settles
    expect(await tcpTransfer(a, b, '169.254.70.2', 1 << 20)).toBe(1 << 20);
    expect(await lastValueFrom(flowCookies(bridge))).toEqual([0x11n, 0x22n]);

    await lastValueFrom(deleteFlows(bridge, 0x11n));
    expect(await lastValueFrom(flowCookies(bridge))).toEqual([0x22n]);
    expect(pings(a, '169.254.70.2')).toBe(false);

    const refused = lastValueFrom(addFlows(bridge, 0x33n, [...crossConnect(pa, pb), 'priority=100,in_port=no-such-port,actions=drop']));
    await expect(refused).rejects.toThrow(/ovs-ofctl .*add-flows.*no-such-port/);
    expect(await lastValueFrom(flowCookies(bridge))).toEqual([0x22n]);
  });
});

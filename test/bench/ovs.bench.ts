import { kernelDatapathMissing } from '../../dataplane/kernel/host.js';
import { OvsdbClient } from '../../dataplane/ovs/ovsdb.js';
import { OvsdbSession } from '../../dataplane/ovs/ovsdbSession.js';
import { OvsDatapath } from '../../dataplane/ovs/ovsDatapath.js';
import { addPort, deletePorts, ensureBridge, portsMarked } from '../../dataplane/ovs/vswitch.js';
import { ovsMissing, startOvsdbServer, startVswitchd } from '../ovs/ovsdbServer.js';
import { connectionThroughput, gbps, iperfPresent, kernelDatapath, setup, vethThroughput, type DatapathFor } from './kernel.bench.js';
import { measure, type BenchResult } from './stats.js';

/** forwarder-ovs's datapath on `node`: its own ovsdb-server and ovs-vswitchd (userspace datapath) in that netns. */
const ovsDatapath: DatapathFor = async (node, tunnelIp) => {
  const db = await startOvsdbServer();
  const vswitchd = await startVswitchd(db, node);
  const session = new OvsdbSession(db.url, { retryMs: 100 });
  const datapath = await OvsDatapath.start({ owner: 'forwarder-bench', ovsdb: session, bridge: { bridge: 'br-nsm', rundir: vswitchd.rundir }, datapathType: 'netdev', nodeNetns: `/run/netns/${node}`, tunnelIp });
  return {
    datapath,
    dispose: async () => {
      await session.close();
      await vswitchd.stop();
      await db.remove();
    },
  };
};

/** OVSDB round trips of our client against a real ovsdb-server (no ovs-vswitchd: the server's own cost). */
async function transact(quick: boolean): Promise<BenchResult[]> {
  const db = await startOvsdbServer();
  const client = await OvsdbClient.connect(db.url);
  try {
    await client.transact('Open_vSwitch', [{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
    await ensureBridge(client, 'br-nsm', 'netdev');
    const iterations = quick ? 100 : 1000;
    let n = 0;
    const add = await measure('OVSDB transact: add a marked port (guard, 3 rows, next_cfg)', iterations, 20, () => addPort(client, 'br-nsm', { name: `p${n++}`, externalIds: { 'nsm-rx-forwarder': 'bench', 'nsm-rx-connection': `c${n}` } }));
    const select = await measure('OVSDB transact: select the ports of a forwarder', iterations, 20, async () => {
      await portsMarked(client, 'nsm-rx-forwarder', 'bench');
    });
    await deletePorts(client, 'br-nsm', Array.from({ length: n }, (_, i) => `p${i}`));
    return [add, { ...select, extra: { ports: n } }];
  } finally {
    await client.close();
    await db.remove();
  }
}

/**
 * forwarder-ovs beside forwarder-kernel, same run: local connection setup p50 of each, TCP
 * throughput of each and of a hand-made veth pair (ratios), and OVSDB transact p50.
 */
export async function ovsBenchmarks(quick: boolean): Promise<BenchResult[]> {
  const missing = kernelDatapathMissing() ?? ovsMissing();
  if (missing) {
    console.warn(`OVS benchmarks skipped: ${missing}`);
    return [];
  }
  const kernel = await setup('kernel datapath', kernelDatapath, false, quick);
  const ovs = await setup('OVS datapath (userspace)', ovsDatapath, false, quick);
  const results = [kernel, { ...ovs, extra: { ovsToKernelP50: +(ovs.p50Ms / kernel.p50Ms).toFixed(2) } }, ...(await transact(quick))];
  if (iperfPresent('OVS throughput benchmark')) {
    const veth = await vethThroughput(quick);
    const viaKernel = await connectionThroughput(kernelDatapath, quick);
    const viaOvs = await connectionThroughput(ovsDatapath, quick);
    results.push({
      name: 'TCP throughput: OVS / kernel connection / hand-made veth (iperf3)',
      iterations: 1,
      opsPerSec: 0,
      p50Ms: NaN,
      p99Ms: NaN,
      extra: { ovsGbps: gbps(viaOvs), kernelGbps: gbps(viaKernel), vethGbps: gbps(veth), ovsToKernel: +(viaOvs / viaKernel).toFixed(3), ovsToVeth: +(viaOvs / veth).toFixed(3) },
    });
  }
  return results;
}

import { firstValueFrom, lastValueFrom } from 'rxjs';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import type { Connection } from '../../proto/gen/connection.js';
import { client } from '../../operators/chains/client.js';
import { Context } from '../../operators/core/context.js';
import { retryClient } from '../../operators/networkservice/retry.js';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import { kernelDatapathMissing } from '../../dataplane/kernel/host.js';
import { inodeUrlOfFile } from '../../dataplane/kernel/netns.js';
import { addNetns, delNetns } from '../kernel/netns.js';
import { referenceBinaries } from '../interop/reference.js';
import { CLUSTERS, clusterNamespaces, nsmRxCluster, upstreamCluster } from '../process/clusters.js';
import { ProcessMesh } from '../process/processMesh.js';
import { quantile, ratioRows, type BenchResult } from './stats.js';

/** Which programs make the two clusters: nsm-rx's, or upstream's reference programs (sdk v1.14.5) with nsm-rx's forwarder-noop. */
type Side = { label: 'nsm-rx' } | { label: 'upstream (Go)'; bin: string };

/**
 * Two clusters as processes in network namespaces (test/process/clusters.ts), forwarder-noop in
 * each, the NSE in cluster2; a client in this process asks nsmgr-0 for `icmp-responder@cluster2`
 * (8 segments, both nsmgr-proxies, DNS) again and again: Request timed, Close not.
 */
async function interdomainSetup(side: Side, iterations: number): Promise<BenchResult> {
  const mesh = new ProcessMesh();
  const made: string[] = [];
  const ns = {
    make: (label: string) => {
      const name = `nsmrx-bench-${process.pid}-${label}`;
      addNetns(name);
      made.push(name);
      return name;
    },
  };
  try {
    const pool = await mesh.nscPool();
    const { nodes, resolvConf, mapIp, clusterInfo } = clusterNamespaces(ns, mesh);
    for (const [i, c] of CLUSTERS.entries()) {
      const node = nodes[i] as string;
      if (side.label === 'nsm-rx') nsmRxCluster(mesh, node, i, c, { resolvConf, mapIp: mapIp(c), clusterInfo: clusterInfo(c) }, 'forwarder-noop');
      else await upstreamCluster(mesh, side.bin, node, i, c, { dnsServer: CLUSTERS[0].ip, mapIp: mapIp(c) }, 'forwarder-noop');
    }
    const nseEnv = { NSM_NAME: 'icmp-responder', NSM_CONNECT_TO: mesh.sock('nsmgr-1'), NSM_SERVICE_NAMES: 'icmp-responder', NSM_CIDR_PREFIX: '169.254.0.0/16' };
    if (side.label === 'nsm-rx') mesh.start(nodes[1], 'nse-icmp-responder', nseEnv);
    else mesh.run(nodes[1], [`${side.bin}/nse-icmp-responder`], { ...nseEnv, NSM_LISTEN_ON: mesh.sock('go-nse') });

    const nsc = client({ name: 'nsc', pool, url: parseNsmUrl(mesh.sock('nsmgr-0')), inodeUrlOf: inodeUrlOfFile });
    const request = (id: string) => NetworkServiceRequest.fromPartial({ connection: { id, networkService: 'icmp-responder@cluster2' }, mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } }] });
    const requestOnce = (id: string): Promise<Connection> => firstValueFrom(retryClient(nsc.handler).request(request(id), Context.background.withDeadline(Date.now() + 120_000)));
    const close = (conn: Connection) => lastValueFrom(nsc.handler.close(conn, Context.background.withDeadline(Date.now() + 60_000)), { defaultValue: undefined });
    const samples = new Float64Array(iterations);
    for (let i = 0; i < iterations + 20; i++) {
      const t0 = performance.now();
      const conn = await requestOnce(`interdomain-${i}`);
      if (i >= 20) samples[i - 20] = performance.now() - t0; // the first 20 warm up (the first waits for everything to start)
      if ((conn.path?.pathSegments.length ?? 0) !== 8) throw new Error(`interdomain path has ${conn.path?.pathSegments.length} segments`);
      await close(conn);
    }
    nsc.state.metadata.dispose();
    pool.closeAll();
    samples.sort();
    return { name: `${side.label}: interdomain connection setup (8 segments: nsmgr → forwarder → nsmgr-proxy → nsmgr-proxy → nsmgr → forwarder → NSE, processes, DNS, no-op datapath)`, iterations, opsPerSec: 0, p50Ms: quantile(samples, 0.5), p99Ms: quantile(samples, 0.99) };
  } finally {
    await mesh.dispose();
    made.forEach(delNetns);
  }
}

/**
 * Interdomain connection setup as deployed (every daemon a secure process), nsm-rx's clusters,
 * then upstream's reference programs (when Go can build them) in the same topology, and the
 * ratio nsm-rx / upstream. Needs root (network namespaces): otherwise nothing is measured.
 */
export async function interdomainBenchmarks(quick: boolean): Promise<BenchResult[]> {
  const missing = kernelDatapathMissing();
  if (missing !== undefined) {
    console.error(`interdomain bench skipped: ${missing}`);
    return [];
  }
  const iterations = quick ? 50 : 300;
  const ours = [await interdomainSetup({ label: 'nsm-rx' }, iterations)];
  const bin = referenceBinaries(true);
  if (bin === undefined) return ours;
  return [...ours, ...ratioRows(ours, [await interdomainSetup({ label: 'upstream (Go)', bin }, iterations)])];
}

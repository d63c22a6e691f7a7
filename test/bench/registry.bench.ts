import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { firstValueFrom, type Subscription } from 'rxjs';
import { NetworkServiceEndpoint, NetworkServiceEndpointQuery } from '../../proto/gen/registry.js';
import { Context } from '../../operators/core/context.js';
import { registryChain, type NSEHandler } from '../../operators/core/registry.js';
import { nseRegistryClient } from '../../operators/registry/grpcClient.js';
import { unixUrl } from '../../operators/tools/nsmUrl.js';
import { ChannelPool } from '../../streams/grpc/channelPool.js';
import { ProcessMesh } from '../process/processMesh.js';
import { referenceBinaries } from '../interop/reference.js';
import { measure, quantile, ratioRows, rssMiB, type BenchResult } from './stats.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const entry = (i: number) =>
  NetworkServiceEndpoint.fromPartial({
    name: `nse-${i}`,
    networkServiceNames: ['icmp-responder'],
    networkServiceLabels: { 'icmp-responder': { labels: { app: 'bench', zone: `z${i % 8}` } } },
    url: `tcp://10.0.${(i >> 8) & 255}.${i & 255}:5001`,
  });

/** How a registry under test is started: one of the mesh's daemons serving on `socket`, with its SVID from the mesh's identity. */
export type StartRegistry = (mesh: ProcessMesh, socket: string) => ChildProcess;

/**
 * Registry figures against a registry running as its own process, secure as deployed (mTLS,
 * tokens, default registry policies; SVIDs from nsm-rx identity), called by nsm-rx's registry
 * client: Register ops/s; with `total` NSEs stored and `watchers` Find-watchers open, the latency
 * from a Register to its arrival at every watcher; the registry's RSS at `total` NSEs.
 */
export async function registryFigures(label: string, start: StartRegistry, total: number, quick: boolean): Promise<BenchResult[]> {
  const watchers = 100;
  const mesh = new ProcessMesh();
  const pool = await mesh.nscPool();
  const socket = join(mesh.dir, 'registry.sock');
  const child = start(mesh, socket);
  const subs: Subscription[] = [];
  try {
    while (!existsSync(socket)) await sleep(20);
    const nse: NSEHandler = registryChain([nseRegistryClient({ pool, url: unixUrl(socket), dialTimeout: 5000 })]);
    const register = (i: number) => firstValueFrom(nse.register(entry(i), Context.background));
    const idleRss = rssMiB(child.pid as number);

    let i = 0;
    const registerRate = await measure(`${label} registry Register (unix socket, own process)`, total - 200, 200, async () => {
      await register(i++);
    });
    const rss = rssMiB(child.pid as number);

    // 100 watchers, each its own Find stream, spread over 4 channels as 4 nsmgrs would.
    const pools = await Promise.all(Array.from({ length: 4 }, () => mesh.nscPool()));
    const arrivals = new Map<string, number>();
    let waiting: { name: string; resolve: () => void } | undefined;
    let snapshotted = 0;
    for (let w = 0; w < watchers; w++) {
      let seen = 0;
      const watcher = registryChain([nseRegistryClient({ pool: pools[w % 4] as ChannelPool, url: unixUrl(socket), dialTimeout: 5000 })]);
      subs.push(
        watcher.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { networkServiceNames: ['icmp-responder'] }, watch: true }), Context.background).subscribe((r) => {
          if (++seen === i) snapshotted++;
          const name = r.networkServiceEndpoint?.name ?? '';
          if (waiting?.name !== name) return;
          const n = (arrivals.get(name) ?? 0) + 1;
          arrivals.set(name, n);
          if (n === watchers) waiting.resolve();
        }),
      );
    }
    while (snapshotted < watchers) await sleep(20); // every watcher has read its snapshot
    const rounds = quick ? 50 : 200;
    const samples = new Float64Array(rounds);
    for (let r = 0; r < rounds; r++) {
      const name = `nse-${i}`;
      const all = new Promise<void>((resolve) => (waiting = { name, resolve }));
      const t0 = process.hrtime.bigint();
      await register(i++);
      await all;
      samples[r] = Number(process.hrtime.bigint() - t0) / 1e6;
    }
    samples.sort();
    for (const p of pools) p.closeAll();
    const fanOut: BenchResult = {
      name: `${label} registry Register → all ${watchers} Find-watchers (${total} NSEs stored)`,
      iterations: rounds,
      opsPerSec: rounds / (samples.reduce((a, b) => a + b, 0) / 1000),
      p50Ms: quantile(samples, 0.5),
      p99Ms: quantile(samples, 0.99),
    };
    return [
      { ...registerRate, extra: { rssIdleMiB: Number(idleRss.toFixed(1)), rssLoadedMiB: Number(rss.toFixed(1)), nses: total } },
      fanOut,
    ];
  } finally {
    for (const s of subs) s.unsubscribe();
    await mesh.dispose();
  }
}

/** NSEs must outlive the benchmark: a long lifetime stands in for refreshing owners (the Go reference program reads NSM_EXPIRE_PERIOD as its lifetime). */
export const nsmRx: StartRegistry = (mesh, socket) => mesh.start(undefined, 'registry-memory', { NSM_LISTEN_ON: `unix://${socket}`, NSM_REGISTRATION_LIFETIME: '1h' }).child;

/** Upstream's memory registry (test/interop reference program), when Go can build it. */
function upstream(): StartRegistry | undefined {
  const bin = referenceBinaries(true);
  if (bin === undefined) return undefined;
  return (mesh, socket) => mesh.run(undefined, [join(bin, 'registry-memory'), `unix://${socket}`], { NSM_EXPIRE_PERIOD: '1h' }).child;
}

/**
 * Side by side at 2,000 NSEs: upstream's registry evaluates its OPA policies for every entry of
 * every watcher's snapshot, and 100 watchers of 10,000 NSEs kept it busy for over half an hour.
 */
const SIDE_BY_SIDE_NSES = 2000;

/** nsm-rx's registry at 10,000 NSEs, and both registries side by side with the ratio nsm-rx / upstream of each figure. */
export async function registryBenchmarks(quick: boolean): Promise<BenchResult[]> {
  const ours = await registryFigures('nsm-rx', nsmRx, quick ? SIDE_BY_SIDE_NSES : 10_000, quick);
  const start = upstream();
  if (start === undefined) return ours;
  const oursSideBySide = quick ? ours : await registryFigures('nsm-rx', nsmRx, SIDE_BY_SIDE_NSES, quick);
  return [...ours, ...(quick ? [] : oursSideBySide), ...ratioRows(oursSideBySide, await registryFigures('upstream (Go)', start, SIDE_BY_SIDE_NSES, quick))];
}

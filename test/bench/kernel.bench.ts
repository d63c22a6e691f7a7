import { execFileSync, spawn } from 'node:child_process';
import type { Datapath } from '../../dataplane/datapath.js';
import { KernelDatapath } from '../../dataplane/kernel/kernel.js';
import { kernelDatapathMissing } from '../../dataplane/kernel/host.js';
import { point2pointIpam } from '../../operators/networkservice/point2pointIpam.js';
import { addNetns, delNetns, inodeUrlOf, ipJson, startWorkload, underlay } from '../kernel/netns.js';
import { nscEvents, pinger, ProcessMesh, stop } from '../process/processMesh.js';
import { Mesh } from '../sandbox/mesh.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { quantile, type BenchResult } from './stats.js';

const ns = (label: string) => `nsmrx-bench-${process.pid}-${label}`;

/** A datapath of a bench's forwarder on node netns `node` (underlay address `tunnelIp`), and what stops what it started. */
export type DatapathFor = (node: string, tunnelIp: string) => Promise<{ datapath: Datapath; dispose?: () => Promise<void> }>;

export const kernelDatapath: DatapathFor = async (node, tunnelIp) => ({ datapath: new KernelDatapath({ tunnelIp, underlayNetns: `/run/netns/${node}` }) });

/**
 * Connection setup through the mesh on the datapath `datapathFor` makes (Request timed; Close
 * outside the timing): local, or remote across two node namespaces joined by VXLAN.
 */
export async function setup(label: string, datapathFor: DatapathFor, remote: boolean, quick: boolean): Promise<BenchResult> {
  const names = ['nsc', 'nse', 'node0', 'node1'].map(ns);
  const [nsc, nse, node0, node1] = names as [string, string, string, string];
  names.forEach(addNetns);
  const sandbox = await Sandbox.create();
  // As in a deployment, a process lives in the endpoint's netns (the sandbox's NSE runs here).
  const endpoint = startWorkload(nse);
  const started: { dispose?: () => Promise<void> }[] = [];
  try {
    underlay(node0, node1, '169.254.250.1/30', '169.254.250.2/30');
    const mesh = await Mesh.build(sandbox, { nodes: remote ? 2 : 1, defaultForwarder: false });
    for (const [i, [node, ip]] of ([[node0, '169.254.250.1'], [node1, '169.254.250.2']] as const).slice(0, remote ? 2 : 1).entries()) {
      const made = await datapathFor(node, ip);
      started.push(made);
      await mesh.addForwarder(i, { datapath: made.datapath });
    }
    await mesh.endpoint(remote ? 1 : 0, 'nse', { services: ['icmp-responder'], additional: [point2pointIpam(['169.254.0.0/16'])], netnsUrl: () => inodeUrlOf(nse) });
    const client = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { retry: false, heal: false });
    const request = (i: number) =>
      client.request({
        connection: { id: `nsc-${i}`, networkService: 'icmp-responder' },
        mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { inodeURL: inodeUrlOf(nsc), name: 'nsm-1' } }],
      });
    for (let i = 0; i < 5; i++) await client.close(await request(-i - 1)); // warm-up
    const iterations = quick ? 20 : 200;
    const samples = new Float64Array(iterations);
    for (let i = 0; i < iterations; i++) {
      const t0 = process.hrtime.bigint();
      const conn = await request(i);
      samples[i] = Number(process.hrtime.bigint() - t0) / 1e6;
      await client.close(conn); // not part of the setup time
    }
    samples.sort();
    const total = samples.reduce((a, b) => a + b, 0);
    return { name: `${remote ? 'remote (VXLAN)' : 'local (veth)'} connection setup, ${label}`, iterations, opsPerSec: (iterations / total) * 1000, p50Ms: quantile(samples, 0.5), p99Ms: quantile(samples, 0.99) };
  } finally {
    process.kill(endpoint, 'SIGKILL');
    await sandbox.cleanup();
    for (const s of started) await s.dispose?.();
    names.forEach(delNetns);
  }
}

/** iperf3 for `seconds` from netns `from` to `addr` served in `to`: bits per second. */
async function iperf(from: string, to: string, addr: string, seconds: number): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', to, 'iperf3', '-s', '-1', '-B', addr], { stdio: 'ignore' });
  try {
    for (let tries = 0; ; tries++) {
      try {
        const out = execFileSync('ip', ['netns', 'exec', from, 'iperf3', '-J', '-c', addr, '-t', String(seconds)], { encoding: 'utf8' });
        return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
      } catch (e) {
        if (tries > 20) throw e;
        await new Promise((r) => setTimeout(r, 100)); // the server is still starting
      }
    }
  } finally {
    server.kill('SIGKILL');
  }
}

/** TCP throughput (bits/s) over a hand-made veth pair between two fresh namespaces: the baseline. */
export async function vethThroughput(quick: boolean): Promise<number> {
  const names = ['a', 'b'].map(ns);
  const [a, b] = names as [string, string];
  names.forEach(addNetns);
  try {
    execFileSync('ip', ['link', 'add', 'va', 'netns', a, 'type', 'veth', 'peer', 'name', 'vb', 'netns', b]);
    execFileSync('ip', ['-n', a, 'addr', 'add', '169.254.99.1/30', 'dev', 'va']);
    execFileSync('ip', ['-n', b, 'addr', 'add', '169.254.99.2/30', 'dev', 'vb']);
    execFileSync('ip', ['-n', a, 'link', 'set', 'va', 'up']);
    execFileSync('ip', ['-n', b, 'link', 'set', 'vb', 'up']);
    return await iperf(a, b, '169.254.99.2', quick ? 1 : 5);
  } finally {
    names.forEach(delNetns);
  }
}

/** TCP throughput (bits/s) through a local NSM connection on the datapath `datapathFor` makes. */
export async function connectionThroughput(datapathFor: DatapathFor, quick: boolean): Promise<number> {
  const names = ['nsc', 'nse', 'node'].map(ns);
  const [nsc, nse, node] = names as [string, string, string];
  names.forEach(addNetns);
  const sandbox = await Sandbox.create();
  let made: { dispose?: () => Promise<void> } | undefined;
  try {
    const mesh = await Mesh.build(sandbox, { defaultForwarder: false });
    const dp = await datapathFor(node, '169.254.250.1');
    made = dp;
    await mesh.addForwarder(0, { datapath: dp.datapath });
    await mesh.endpoint(0, 'nse', { services: ['icmp-responder'], additional: [point2pointIpam(['169.254.0.0/16'])], netnsUrl: () => inodeUrlOf(nse) });
    const client = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { retry: false, heal: false });
    const conn = await client.request({
      connection: { id: 'nsc-tput', networkService: 'icmp-responder' },
      mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { inodeURL: inodeUrlOf(nsc), name: 'nsm-1' } }],
    });
    const bps = await iperf(nsc, nse, '169.254.0.0', quick ? 1 : 5);
    await client.close(conn);
    return bps;
  } finally {
    await sandbox.cleanup();
    await made?.dispose?.();
    names.forEach(delNetns);
  }
}

/** TCP throughput through an NSM connection divided by a hand-made veth pair's, same run. */
async function throughput(quick: boolean): Promise<BenchResult> {
  const plain = await vethThroughput(quick);
  const nsm = await connectionThroughput(kernelDatapath, quick);
  return { name: 'TCP throughput, NSM connection / hand-made veth (iperf3)', iterations: 1, opsPerSec: 0, p50Ms: NaN, p99Ms: NaN, extra: { nsmGbps: gbps(nsm), vethGbps: gbps(plain), ratio: +(nsm / plain).toFixed(3) } };
}

export const gbps = (bps: number): number => +(bps / 1e9).toFixed(2);

/** Whether iperf3 is here; says what is skipped when not. */
export function iperfPresent(what: string): boolean {
  try {
    execFileSync('iperf3', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn(`${what} skipped: iperf3 is not installed (apt-get install iperf3)`);
    return false;
  }
}

/** `cond` polled every 20 ms until true (or `ms` pass). */
async function until(cond: () => boolean, ms: number): Promise<void> {
  for (const end = Date.now() + ms; !cond(); ) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Heal after a forwarder crash, every part a process: kill -9 the forwarder under a ping every
 * 50 ms, start another, and take the longest silence between replies (the ping gap) and the
 * time until the client's interface was made anew by the new forwarder.
 */
async function healGap(quick: boolean): Promise<BenchResult> {
  const names = ['node', 'nsc', 'nse'].map(ns);
  const [node, nsc, nse] = names as [string, string, string];
  names.forEach(addNetns);
  const mesh = new ProcessMesh();
  try {
    let { forwarder } = mesh.node(node, 0);
    mesh.nse(nse, 0);
    const client = mesh.nsc(nsc);
    await until(() => nscEvents(client, 'connected').length === 1, 30_000);
    const ping = pinger(nsc, '169.254.1.0');
    const gaps: number[] = [];
    const heals: number[] = [];
    for (let i = 0; i < (quick ? 2 : 5); i++) {
      const before = ifindexIn(nsc);
      await until(() => ping.replies().length > 5, 5000);
      const killedAt = Date.now() / 1000;
      await stop(forwarder, 'SIGKILL');
      forwarder = mesh.forwarder(node, 0, `forwarder-${i + 1}`);
      await until(() => ifindexIn(nsc) !== before, 30_000);
      heals.push(Date.now() / 1000 - killedAt);
      await until(() => ping.replies().some((t) => t > killedAt + heals.at(-1)! + 0.2), 10_000);
      gaps.push(ping.gap(killedAt));
    }
    ping.stop();
    const sorted = (xs: number[]) => Float64Array.from(xs.map((x) => x * 1000)).sort();
    const g = sorted(gaps);
    return { name: 'forwarder kill -9 → heal (processes, kernel): ping gap', iterations: gaps.length, opsPerSec: 0, p50Ms: quantile(g, 0.5), p99Ms: quantile(g, 0.99), extra: { maxGapMs: Math.round(g[g.length - 1] ?? NaN), healP50Ms: Math.round(quantile(sorted(heals), 0.5)) } };
  } finally {
    await mesh.dispose();
    names.forEach(delNetns);
  }
}

const ifindexIn = (netns: string): number | undefined => ipJson<{ ifname: string; ifindex: number }[]>(netns, ['link', 'show']).find((l) => l.ifname !== 'lo')?.ifindex;

/** Kernel datapath figures; skipped (with the reason) where the host cannot run them. */
export async function kernelBenchmarks(quick: boolean): Promise<BenchResult[]> {
  const missing = kernelDatapathMissing();
  if (missing) {
    console.warn(`kernel datapath benchmarks skipped: ${missing}`);
    return [];
  }
  const results = [await setup('kernel datapath', kernelDatapath, false, quick), await setup('kernel datapath', kernelDatapath, true, quick), await healGap(quick)];
  if (iperfPresent('throughput benchmark')) results.push(await throughput(quick));
  return results;
}

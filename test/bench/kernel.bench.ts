import { execFileSync, spawn } from 'node:child_process';
import { KernelDatapath } from '../../dataplane/kernel/kernel.js';
import { kernelDatapathMissing } from '../../dataplane/kernel/host.js';
import { point2pointIpam } from '../../operators/networkservice/point2pointIpam.js';
import { addNetns, delNetns, inodeUrlOf, ipJson, underlay } from '../kernel/netns.js';
import { nscEvents, pinger, ProcessMesh, stop } from '../process/processMesh.js';
import { Mesh } from '../sandbox/mesh.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { quantile, type BenchResult } from './stats.js';

const ns = (label: string) => `nsmrx-bench-${process.pid}-${label}`;

/** Connection setup through the mesh on the kernel datapath (Request timed; Close outside the timing). */
async function setup(remote: boolean, quick: boolean): Promise<BenchResult> {
  const names = ['nsc', 'nse', 'node0', 'node1'].map(ns);
  const [nsc, nse, node0, node1] = names as [string, string, string, string];
  names.forEach(addNetns);
  const sandbox = await Sandbox.create();
  try {
    underlay(node0, node1, '169.254.250.1/30', '169.254.250.2/30');
    const mesh = await Mesh.build(sandbox, { nodes: remote ? 2 : 1, defaultForwarder: false });
    await mesh.addForwarder(0, { datapath: new KernelDatapath({ tunnelIp: '169.254.250.1', underlayNetns: `/run/netns/${node0}` }) });
    if (remote) await mesh.addForwarder(1, { datapath: new KernelDatapath({ tunnelIp: '169.254.250.2', underlayNetns: `/run/netns/${node1}` }) });
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
    const result: BenchResult = { name: `${remote ? 'remote (VXLAN)' : 'local (veth)'} connection setup, kernel datapath`, iterations, opsPerSec: (iterations / total) * 1000, p50Ms: quantile(samples, 0.5), p99Ms: quantile(samples, 0.99) };
    return result;
  } finally {
    await sandbox.cleanup();
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

/** TCP throughput through an NSM connection divided by a hand-made veth pair's, same run. */
async function throughput(quick: boolean): Promise<BenchResult> {
  const seconds = quick ? 1 : 5;
  const names = ['nsc', 'nse', 'a', 'b'].map(ns);
  const [nsc, nse, a, b] = names as [string, string, string, string];
  names.forEach(addNetns);
  const sandbox = await Sandbox.create();
  try {
    execFileSync('ip', ['link', 'add', 'va', 'netns', a, 'type', 'veth', 'peer', 'name', 'vb', 'netns', b]);
    execFileSync('ip', ['-n', a, 'addr', 'add', '169.254.99.1/30', 'dev', 'va']);
    execFileSync('ip', ['-n', b, 'addr', 'add', '169.254.99.2/30', 'dev', 'vb']);
    execFileSync('ip', ['-n', a, 'link', 'set', 'va', 'up']);
    execFileSync('ip', ['-n', b, 'link', 'set', 'vb', 'up']);
    const mesh = await Mesh.build(sandbox, { defaultForwarder: false });
    await mesh.addForwarder(0, { datapath: new KernelDatapath() });
    await mesh.endpoint(0, 'nse', { services: ['icmp-responder'], additional: [point2pointIpam(['169.254.0.0/16'])], netnsUrl: () => inodeUrlOf(nse) });
    const client = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { retry: false, heal: false });
    const conn = await client.request({
      connection: { id: 'nsc-tput', networkService: 'icmp-responder' },
      mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { inodeURL: inodeUrlOf(nsc), name: 'nsm-1' } }],
    });
    const plain = await iperf(a, b, '169.254.99.2', seconds);
    const nsm = await iperf(nsc, nse, '169.254.0.0', seconds);
    await client.close(conn);
    return { name: 'TCP throughput, NSM connection / hand-made veth (iperf3)', iterations: 1, opsPerSec: 0, p50Ms: NaN, p99Ms: NaN, extra: { nsmGbps: +(nsm / 1e9).toFixed(2), vethGbps: +(plain / 1e9).toFixed(2), ratio: +(nsm / plain).toFixed(3) } };
  } finally {
    await sandbox.cleanup();
    names.forEach(delNetns);
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
  const results = [await setup(false, quick), await setup(true, quick), await healGap(quick)];
  try {
    execFileSync('iperf3', ['--version'], { stdio: 'ignore' });
    results.push(await throughput(quick));
  } catch {
    console.warn('throughput benchmark skipped: iperf3 is not installed (apt-get install iperf3)');
  }
  return results;
}

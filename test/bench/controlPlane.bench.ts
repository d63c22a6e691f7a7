import { resolvePolicies } from '../../operators/authorize/policies.js';
import { Mesh } from '../sandbox/mesh.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { Domain, DomainDns } from '../sandbox/domain.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metrics } from '../../operators/tools/metrics.js';
import type { CallTracing } from '../../operators/tools/tracing.js';
import { startCollectorProcess } from '../otlp/collectorProcess.js';
import { measure, type BenchResult } from './stats.js';
import { takingTurns } from './turns.js';
import { transportFloorBenchmarks } from './transportFloor.bench.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };

/** What a Request+Close loop runs on: a mesh's nsc call, and what tears the mesh down. */
export interface RequestCloseLoop {
  readonly name: string;
  readonly op: () => Promise<void>;
  readonly cleanup: () => Promise<void>;
}

/** A fresh mesh, local (4 segments) or remote (6), plaintext or secure, and its Request+Close. */
export async function requestCloseLoop(remote: boolean, secure: boolean, observed: { metrics?: Metrics; tracing?: CallTracing } = {}): Promise<RequestCloseLoop> {
  // Secure as the daemons run by default: mTLS everywhere, ES256 tokens, upstream's server policies.
  const policies = secure ? { server: resolvePolicies(['etc/nsm/opa/common/.*.rego', 'etc/nsm/opa/server/.*.rego']) } : {};
  const sandbox = await Sandbox.create({ secure, policies, ...observed });
  try {
    const mesh = await Mesh.build(sandbox, { nodes: remote ? 2 : 1 });
    await mesh.endpoint(remote ? 1 : 0, 'nse');
    const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { retry: false, heal: false });
    let i = 0;
    const name = `${remote ? 'remote (6 segments)' : 'local (4 segments)'} Request+Close, discovery, no-op datapath${secure ? ', mTLS + tokens + policies' : ', NSM_INSECURE'}${observed.metrics ? ', Prometheus metrics on' : ''}${observed.tracing ? ', OTLP traces on' : ''}`;
    const op = async () => {
      const conn = await nsc.request({ connection: { id: `nsc-${i++}`, networkService: 'ns' }, mechanismPreferences: [kernel] });
      await nsc.close(conn);
    };
    return { name, op, cleanup: () => sandbox.cleanup() };
  } catch (e) {
    await sandbox.cleanup();
    throw e;
  }
}

/** One Request+Close loop through a fresh mesh: local (4 segments) or remote (6), plaintext or secure. */
async function requestClose(quick: boolean, remote: boolean, secure: boolean): Promise<BenchResult> {
  const loop = await requestCloseLoop(remote, secure);
  try {
    return await measure(loop.name, quick ? 200 : 1000, 100, loop.op);
  } finally {
    await loop.cleanup();
  }
}

/** The same loop from cluster1 to an NSE of cluster2 (8 segments: both nsmgr-proxies, DNS, registry-proxy-dns). */
async function interdomainRequestClose(quick: boolean): Promise<BenchResult> {
  const dns = await DomainDns.start();
  const domains: Domain[] = [];
  try {
    for (const name of ['cluster1', 'cluster2']) domains.push(await Domain.build(name, dns));
    const [cluster1, cluster2] = domains as [Domain, Domain];
    await cluster2.mesh.endpoint(0, 'nse');
    const nsc = cluster1.sandbox.client('nsc', cluster1.mesh.nodes[0]!.nsmgr.url, { retry: false, heal: false });
    let i = 0;
    return await measure('interdomain (8 segments) Request+Close, discovery through DNS and registry-proxy-dns, no-op datapath, NSM_INSECURE', quick ? 200 : 1000, 100, async () => {
      const conn = await nsc.request({ connection: { id: `nsc-${i++}`, networkService: 'ns@cluster2' }, mechanismPreferences: [kernel] });
      await nsc.close(conn);
    });
  } finally {
    for (const d of domains) await d.cleanup();
    await dns.close();
  }
}

/**
 * Control-plane figures with the no-op datapath, everything in one process: a Request+Close
 * from an nsc through nsmgr → forwarder → NSE (local, 4 segments), through two nodes (remote,
 * 6 segments) and through two domains (interdomain, 8 segments), registry discovery included;
 * and what security costs (local, secure vs NSM_INSECURE: the ratio of p50s); and under the local
 * figure, the floor its 8 gRPC exchanges alone set (transportFloor.bench.ts).
 */
export async function controlPlaneBenchmarks(quick: boolean): Promise<BenchResult[]> {
  // First, while this process holds nothing else: measured after the meshes, it came out 2.3× as high.
  const [grpcFloor, ownFloor, http2Floor] = await transportFloorBenchmarks(quick);
  const insecure = await requestClose(quick, false, false);
  const remote = await requestClose(quick, true, false);
  const interdomain = await interdomainRequestClose(quick);
  const secure = await requestClose(quick, false, true);
  const ratio = { 'secure/insecure p50': Number((secure.p50Ms / insecure.p50Ms).toFixed(2)) };
  const observability = await observabilityCost(quick);
  return [
    { ...insecure, extra: { 'p50 / floor (own)': Number((insecure.p50Ms / ownFloor.p50Ms).toFixed(2)) } },
    remote,
    { ...interdomain, extra: { 'interdomain/remote p50': Number((interdomain.p50Ms / remote.p50Ms).toFixed(2)) } },
    { ...secure, extra: ratio },
    ...observability,
    grpcFloor,
    ownFloor,
    http2Floor,
  ];
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/**
 * What metrics and traces cost a local secure Request+Close: off, metrics on, metrics + OTLP
 * traces on, each variant its own process (its own heap and garbage collector) taking turns
 * (turns.ts), so that the machine's moods fall on all three alike. A process can stay slower
 * than its twin for its whole life (by ±5%, more than what is measured), so this is done in
 * seven rounds of fresh processes, each warmed by 500 Request+Closes (the JIT's first thousand
 * cost half as much again), and the median of the rounds' p50 ratios is reported with the
 * median round's figures and CPU time per Request+Close. Traces go where a daemon's would:
 * batched over OTLP/gRPC to a collector in a process of its own, which counts what arrives.
 */
async function observabilityCost(quick: boolean): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-bench-otlp-'));
  const collector = await startCollectorProcess(`unix:${join(dir, 'otlp.sock')}`);
  const rounds: BenchResult[][] = [];
  let spansExported = 0;
  try {
    for (let r = 0; r < (quick ? 1 : 7); r++) rounds.push(await takingTurns(['off', 'metrics', 'both'], `unix://${join(dir, 'otlp.sock')}`, quick ? 300 : 700, quick ? 200 : 500));
    spansExported = (await collector.count()).spans;
  } finally {
    await collector.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const rounded = (x: number) => Number(x.toFixed(2));
  const ratios = (k: number) => rounds.map((round) => (round[k]?.p50Ms ?? NaN) / (round[0]?.p50Ms ?? NaN));
  const row = (k: number, label: string): BenchResult => {
    const middle = rounds.find((round) => (round[k]?.p50Ms ?? NaN) / (round[0]?.p50Ms ?? NaN) === median(ratios(k))) ?? rounds[0];
    const [off, variant] = [middle?.[0], middle?.[k]] as [BenchResult, BenchResult];
    return { ...variant, extra: { [label]: rounded(median(ratios(k))), rounds: ratios(k).map(rounded).join(' '), offP50Ms: rounded(off.p50Ms), 'cpu ms/op on, off': `${variant.extra?.['cpuMsPerOp']}, ${off.extra?.['cpuMsPerOp']}` } };
  };
  const both = row(2, 'metrics+tracing on/off p50');
  return [row(1, 'metrics on/off p50'), { ...both, extra: { ...both.extra, spansExported } }];
}

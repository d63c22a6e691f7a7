import { resolvePolicies } from '../../operators/authorize/policies.js';
import { Mesh } from '../sandbox/mesh.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { Domain, DomainDns } from '../sandbox/domain.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metrics } from '../../operators/tools/metrics.js';
import type { CallTracing } from '../../operators/tools/tracing.js';
import { otlpTracing } from '../../nodes/cli/observability.js';
import { startOtlpReceiver } from '../otlp/receiver.js';
import { measure, type BenchResult } from './stats.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };

/** One Request+Close loop through a fresh mesh: local (4 segments) or remote (6), plaintext or secure. */
async function requestClose(quick: boolean, remote: boolean, secure: boolean, observed: { metrics?: Metrics; tracing?: CallTracing } = {}): Promise<BenchResult> {
  // Secure as the daemons run by default: mTLS everywhere, ES256 tokens, upstream's server policies.
  const policies = secure ? { server: resolvePolicies(['etc/nsm/opa/common/.*.rego', 'etc/nsm/opa/server/.*.rego']) } : {};
  const sandbox = await Sandbox.create({ secure, policies, ...observed });
  try {
    const mesh = await Mesh.build(sandbox, { nodes: remote ? 2 : 1 });
    await mesh.endpoint(remote ? 1 : 0, 'nse');
    const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { retry: false, heal: false });
    let i = 0;
    const what = `${remote ? 'remote (6 segments)' : 'local (4 segments)'} Request+Close, discovery, no-op datapath${secure ? ', mTLS + tokens + policies' : ', NSM_INSECURE'}${observed.metrics ? ', Prometheus metrics on' : ''}${observed.tracing ? ', OTLP traces on' : ''}`;
    return await measure(what, quick ? 200 : 1000, 100, async () => {
      const conn = await nsc.request({ connection: { id: `nsc-${i++}`, networkService: 'ns' }, mechanismPreferences: [kernel] });
      await nsc.close(conn);
    });
  } finally {
    await sandbox.cleanup();
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
 * and what security costs (local, secure vs NSM_INSECURE: the ratio of p50s).
 */
export async function controlPlaneBenchmarks(quick: boolean): Promise<BenchResult[]> {
  const insecure = await requestClose(quick, false, false);
  const remote = await requestClose(quick, true, false);
  const interdomain = await interdomainRequestClose(quick);
  const secure = await requestClose(quick, false, true);
  const ratio = { 'secure/insecure p50': Number((secure.p50Ms / insecure.p50Ms).toFixed(2)) };
  const observability = await observabilityCost(quick);
  return [
    insecure,
    remote,
    { ...interdomain, extra: { 'interdomain/remote p50': Number((interdomain.p50Ms / remote.p50Ms).toFixed(2)) } },
    { ...secure, extra: ratio },
    ...observability,
  ];
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/**
 * What metrics and traces cost a local secure Request+Close: off, metrics on, metrics + OTLP
 * traces on, measured in rounds whose order rotates (a later run in a process is slower: its
 * heap is larger), the ratios taken within each round and their median reported with the
 * median round's figures.
 */
async function observabilityCost(quick: boolean): Promise<BenchResult[]> {
  // Traces go where a daemon's would: a real OTLP/gRPC exporter, batching to a collector on a unix socket.
  const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-bench-otlp-'));
  const receiver = await startOtlpReceiver(`unix:${join(dir, 'otlp.sock')}`);
  const otlp = await otlpTracing(`unix://${join(dir, 'otlp.sock')}`, 'bench');
  const variants = {
    off: () => requestClose(quick, false, true),
    metrics: () => requestClose(quick, false, true, { metrics: new Metrics() }),
    both: () => requestClose(quick, false, true, { metrics: new Metrics(), tracing: otlp.tracing }),
  };
  const names = Object.keys(variants) as (keyof typeof variants)[];
  const rounds: Record<keyof typeof variants, BenchResult>[] = [];
  try {
    for (let r = 0; r < (quick ? 1 : 3); r++) {
      const round: Partial<Record<keyof typeof variants, BenchResult>> = {};
      for (let k = 0; k < names.length; k++) {
        const name = names[(r + k) % names.length] as keyof typeof variants;
        round[name] = await variants[name]();
      }
      rounds.push(round as Record<keyof typeof variants, BenchResult>);
    }
    await otlp.shutdown();
  } finally {
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const ratios = (name: keyof typeof variants) => rounds.map((round) => round[name].p50Ms / round.off.p50Ms);
  const middle = (name: keyof typeof variants) => rounds.find((round) => round[name].p50Ms / round.off.p50Ms === median(ratios(name))) ?? rounds[0];
  const rounded = (x: number) => Number(x.toFixed(2));
  return [
    { ...(middle('metrics')?.metrics as BenchResult), extra: { 'metrics on/off p50 (median of rounds)': rounded(median(ratios('metrics'))), rounds: ratios('metrics').map(rounded).join(' ') } },
    { ...(middle('both')?.both as BenchResult), extra: { 'metrics+tracing on/off p50 (median of rounds)': rounded(median(ratios('both'))), rounds: ratios('both').map(rounded).join(' '), spansExported: receiver.spans.length } },
  ];
}

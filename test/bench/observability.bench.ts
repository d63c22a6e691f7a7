import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCollectorProcess } from '../otlp/collectorProcess.js';
import { meshOf, nsmRx, setups } from './scale.bench.js';
import type { BenchResult } from './stats.js';

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/**
 * What metrics and traces cost as deployed: registry, nsmgr, forwarder-noop and NSE each their
 * own process, local connection setup p50 with PROMETHEUS and TELEMETRY (spans and metrics over
 * OTLP/gRPC to a collector on a unix socket, in a process of its own as deployed) on vs off, in
 * five rounds of rotating order; the ratio within each round, their median reported.
 */
export async function observabilityBenchmarks(quick: boolean): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-bench-otlp-'));
  const collector = await startCollectorProcess(`unix:${join(dir, 'otlp.sock')}`);
  const prometheus = { PROMETHEUS: 'true', NSM_PROMETHEUS_LISTEN_ON: '127.0.0.1:0' };
  const variants = {
    off: {},
    metrics: prometheus,
    on: { ...prometheus, TELEMETRY: 'true', NSM_OPEN_TELEMETRY_ENDPOINT: `unix://${join(dir, 'otlp.sock')}`, NSM_METRICS_EXPORT_INTERVAL: '10s' },
  };
  type Variant = keyof typeof variants;
  const names = Object.keys(variants) as Variant[];
  const rounds: Record<Variant, BenchResult>[] = [];
  let spansExported = 0;
  try {
    for (let r = 0; r < (quick ? 1 : 5); r++) {
      const round: Partial<Record<Variant, BenchResult>> = {};
      for (const variant of names.map((_, k) => names[(r + k) % names.length] as Variant)) {
        const { mesh, pool, plane } = await meshOf(nsmRx, variants[variant]);
        try {
          [round[variant]] = await setups([{ side: nsmRx, mesh, pool, plane }], quick ? 200 : 1000);
        } finally {
          pool.closeAll();
          await mesh.dispose();
        }
      }
      rounds.push(round as Record<Variant, BenchResult>);
    }
    spansExported = (await collector.count()).spans;
  } finally {
    await collector.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const ratios = (v: Variant) => rounds.map((round) => round[v].p50Ms / round.off.p50Ms);
  const middle = (v: Variant) => rounds.find((round) => round[v].p50Ms / round.off.p50Ms === median(ratios(v))) ?? rounds[0];
  const rounded = (x: number) => Number(x.toFixed(2));
  const row = (v: Variant, name: string, extra: Record<string, number | string> = {}): BenchResult => ({
    ...(middle(v)?.[v] as BenchResult),
    name,
    extra: { 'on/off p50 (median of rounds)': rounded(median(ratios(v))), rounds: ratios(v).map(rounded).join(' '), ...extra },
  });
  return [
    { ...(middle('on')?.off as BenchResult), name: 'local connection setup, processes, metrics and traces off' },
    row('metrics', 'local connection setup, processes, PROMETHEUS on'),
    row('on', 'local connection setup, processes, PROMETHEUS + TELEMETRY on (spans and metrics over OTLP)', { spansExported }),
  ];
}

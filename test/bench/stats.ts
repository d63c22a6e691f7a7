import { readFileSync } from 'node:fs';

/** One benchmark's result row. */
export interface BenchResult {
  readonly name: string;
  readonly iterations: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly extra?: Readonly<Record<string, number | string>>;
}

/** Runs `op` `warmup` times, then `iterations` times sequentially, timing each with hrtime. */
export async function measure(name: string, iterations: number, warmup: number, op: () => Promise<void>): Promise<BenchResult> {
  for (let i = 0; i < warmup; i++) await op();
  const samples = new Float64Array(iterations);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    await op();
    samples[i] = Number(process.hrtime.bigint() - t0) / 1e6;
  }
  const totalMs = Number(process.hrtime.bigint() - start) / 1e6;
  samples.sort();
  return { name, iterations, opsPerSec: (iterations / totalMs) * 1000, p50Ms: quantile(samples, 0.5), p99Ms: quantile(samples, 0.99) };
}

export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** A fixed-width table: name, ops/s, p50, p99 (and any extra figures). */
export function table(results: readonly BenchResult[]): string {
  const rows = [['benchmark', 'ops/s', 'p50 ms', 'p99 ms', 'extra']];
  for (const r of results) {
    const extra = Object.entries(r.extra ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    rows.push([r.name, r.opsPerSec.toFixed(0), r.p50Ms.toFixed(3), r.p99Ms.toFixed(3), extra]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === 0 || i === 4 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n');
}

/** Resident memory of a process, MiB (Linux /proc). */
export function rssMiB(pid: number | undefined): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
}

const ratio = (a: number | undefined, b: number | undefined): number => Number(((a ?? NaN) / (b ?? NaN)).toFixed(2));

/**
 * Upstream's rows (`theirs`, in the order of `ours`) with the ratio nsm-rx/upstream of each
 * figure they share: p50, p99, ops/s, and every extra figure in ms or MiB.
 */
export function ratioRows(ours: readonly BenchResult[], theirs: readonly BenchResult[]): BenchResult[] {
  return theirs.map((r, i) => {
    const o = ours[i];
    const extras = Object.entries(r.extra ?? {}).filter(([k, v]) => typeof v === 'number' && /(Ms|MiB)$/.test(k) && typeof o?.extra?.[k] === 'number');
    return {
      ...r,
      extra: {
        ...r.extra,
        'nsm-rx/upstream p50': ratio(o?.p50Ms, r.p50Ms),
        'nsm-rx/upstream p99': ratio(o?.p99Ms, r.p99Ms),
        ...(r.opsPerSec > 0 ? { 'nsm-rx/upstream ops/s': ratio(o?.opsPerSec, r.opsPerSec) } : {}),
        ...Object.fromEntries(extras.map(([k, v]) => [`nsm-rx/upstream ${k}`, ratio(o?.extra?.[k] as number, v as number)])),
      },
    };
  });
}

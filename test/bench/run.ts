import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { engineBenchmarks } from './engine.bench.js';
import { registryBenchmarks } from './registry.bench.js';
import { controlPlaneBenchmarks } from './controlPlane.bench.js';
import { kernelBenchmarks } from './kernel.bench.js';
import { healBenchmarks, scaleBenchmarks } from './scale.bench.js';
import { memoryBenchmarks } from './memory.bench.js';
import { k8sBenchmarks } from './k8s.bench.js';
import { interdomainBenchmarks } from './interdomain.bench.js';
import { vl3Benchmarks } from './vl3.bench.js';
import { ovsBenchmarks } from './ovs.bench.js';
import { libraryBenchmarks } from './libraries.bench.js';
import { observabilityBenchmarks } from './observability.bench.js';
import { table, type BenchResult } from './stats.js';

/**
 * `npm run bench`: runs every benchmark, prints a table and writes bench-results/bench.json.
 * `--quick` runs fewer iterations (a smoke run); `--only=registry,scale` runs only those suites
 * (engine, registry, controlPlane, scale, heal, kernel, memory, k8s, interdomain, vl3, ovs).
 */
async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
  const suites: [string, (quick: boolean) => Promise<BenchResult[]>][] = [
    ['engine', engineBenchmarks],
    ['registry', registryBenchmarks],
    ['controlPlane', controlPlaneBenchmarks],
    ['scale', scaleBenchmarks],
    ['heal', healBenchmarks],
    ['kernel', kernelBenchmarks],
    ['memory', memoryBenchmarks],
    ['k8s', k8sBenchmarks],
    ['interdomain', interdomainBenchmarks],
    ['vl3', vl3Benchmarks],
    ['ovs', ovsBenchmarks],
    ['libraries', libraryBenchmarks],
    ['observability', observabilityBenchmarks],
  ];
  const results: BenchResult[] = [];
  for (const [name, run] of suites) if (only === undefined || only.includes(name)) results.push(...(await run(quick)));
  console.log(table(results));
  const out = join(process.cwd(), 'bench-results');
  await mkdir(out, { recursive: true });
  const report = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    results,
  };
  await writeFile(join(out, 'bench.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${join(out, 'bench.json')}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);

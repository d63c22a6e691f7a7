// `npm run soak -- --minutes N [--connections=100 --nscs=10 --churn-loops=2 --hold-ms=2000]`: the
// soak (as root, on the kernel datapath). The chaos mesh with its standing connections (a ping a
// second on each) plus churn — on each node a client Requesting, holding and Closing connections
// in loops — for N minutes. Every few seconds it samples each daemon's RSS and open fds and each
// netns's links; every 15 s it scrapes each daemon's timers and handles from its Prometheus
// endpoint, and every minute it asks each daemon's profiler for its live heap (used right after
// a full collection). A figure whose growth over the last half passes its allowance fails the
// run, as do a failed churn cycle, a standing connection that stops answering, and anything left
// behind once the churn has stopped. Prints a table; writes soak-results/soak.{json,svg,png}.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { kernelDatapathMissing } from '../../dataplane/kernel/host.js';
import { ChaosMesh, openFds, PROFILER_LISTEN_ON, until } from '../chaos/chaosMesh.js';
import { differences, settled } from '../chaos/leftovers.js';
import { inCheckout, stop, type Daemon } from '../process/processMesh.js';
import { chartSvg, type Panel } from './chart.js';
import { trend, type Allowance, type Series, type Trend } from './trend.js';

/** `--name N` or `--name=N`: a positive number, else `fallback`. */
function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const given = process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? (at >= 0 ? process.argv[at + 1] : undefined);
  if (given === undefined) return fallback;
  const value = Number(given);
  if (!(value > 0)) throw new Error(`--${name} must be a positive number, got ${given}`);
  return value;
}

/**
 * What each figure may grow per hour over the last half and still be flat. Memory: 5 % of its
 * level plus 4 MiB; the heap is the live heap (what a full collection leaves: garbage is not
 * growth, and the nearly idle nscs would collect fully by themselves only every 15 minutes or
 * so). The churn runs some 5,000 cycles an hour: a leak of a kilobyte, a timer, an fd or a
 * handle per 500 cycles passes these. Counts: 10 (fds, timers, handles: in-flight churn moves them
 * up and down by a few, which a half-hour's slope does not quite smooth away), links 2.
 */
const figures: Record<string, { allowance: Allowance; unit: string; scale?: number }> = {
  rss: { allowance: { relative: 0.05, absolute: 4 * 2 ** 20 }, unit: 'MiB', scale: 2 ** 20 },
  heap: { allowance: { relative: 0.05, absolute: 4 * 2 ** 20 }, unit: 'MiB', scale: 2 ** 20 },
  fds: { allowance: { relative: 0, absolute: 10 }, unit: '' },
  timers: { allowance: { relative: 0, absolute: 10 }, unit: '' },
  handles: { allowance: { relative: 0, absolute: 10 }, unit: '' },
  links: { allowance: { relative: 0, absolute: 2 }, unit: '' },
};

/** Every series of the run by figure, then by daemon (or netns). */
class Samples {
  readonly byFigure = new Map<string, Map<string, Series>>();
  constructor(private readonly t0: number) {}
  add(figure: string, who: string, value: number | undefined): void {
    if (value === undefined || !Number.isFinite(value)) return;
    const of = this.byFigure.get(figure) ?? new Map<string, Series>();
    this.byFigure.set(figure, of);
    const s = of.get(who) ?? { t: [], v: [] };
    of.set(who, s);
    s.t.push((performance.now() - this.t0) / 1000);
    s.v.push(value);
  }
}

const rssOf = (pid: number | undefined): number | undefined => {
  if (pid === undefined) return undefined;
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
};

async function main(): Promise<number> {
  const missing = kernelDatapathMissing();
  if (missing) {
    console.error(`npm run soak needs the kernel datapath: ${missing}`);
    return 1;
  }
  const minutes = arg('minutes', 10);
  const nscs = arg('nscs', 10);
  const perNsc = Math.ceil(arg('connections', 100) / nscs);
  const [churnLoops, holdMs, sampleS] = [arg('churn-loops', 2), arg('hold-ms', 2000), 5];
  const dir = join(dirname(inCheckout('package.json')), 'soak-results');
  mkdirSync(dir, { recursive: true });

  const chaos = await ChaosMesh.build(nscs, perNsc, { pingIntervalS: 1, env: { PROMETHEUS: 'true', NSM_PROMETHEUS_LISTEN_ON: '127.0.0.1:0', NSM_PPROF_ENABLED: 'true', NSM_PPROF_LISTEN_ON: PROFILER_LISTEN_ON } });
  const watched = [...chaos.daemons];
  const churnNs = [0, 1].map((i) => chaos.netns(`churn${i}`));
  await new Promise((r) => setTimeout(r, 3000)); // IPv6 link-local routes of links just made
  const baseline = chaos.state();
  const churn: Daemon[] = churnNs.map((ns, i) =>
    chaos.mesh.run(ns, [process.execPath, join(import.meta.dirname, 'churnWorker.js')], { NSM_NAME: `churn-${i}`, NSM_CONNECT_TO: chaos.mesh.sock(`nsmgr-${i}`), SOAK_LOOPS: String(churnLoops), SOAK_HOLD_MS: String(holdMs) }),
  );
  const events = () => churn.flatMap((d) => d.out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event: string; ms?: number; error?: string }));
  console.log(`soak: ${chaos.connections.length} standing connections from ${nscs} nscs, churn ${churnLoops} loops × 2 nodes holding ${holdMs} ms, for ${minutes} min`);

  const t0 = performance.now();
  const startEpoch = Date.now() / 1000;
  const samples = new Samples(t0);
  const deadline = t0 + minutes * 60_000;
  /** Runs `probe` every `seconds` until the run's end (probes that take a while run one after the other). */
  const every = async (seconds: number, probe: () => void | Promise<void>) => {
    while (performance.now() < deadline) {
      const next = performance.now() + seconds * 1000;
      await probe();
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(next, deadline) - performance.now())));
    }
  };
  const failure = await Promise.allSettled([
    every(sampleS, () => {
      for (const [name, d] of watched) {
        samples.add('rss', name, rssOf(d.child.pid));
        samples.add('fds', name, openFds(d.child.pid));
      }
      for (const [ns, state] of Object.entries(chaos.state())) samples.add('links', ns.replace(/^nsmrx-chaos-\d+-/, ''), state.links.length);
    }),
    every(15, async () => {
      for (const [name] of watched) {
        const counters = await chaos.leakCounters(name);
        samples.add('timers', name, counters?.timers);
        samples.add('handles', name, counters?.handles);
      }
    }),
    every(60, async () => {
      for (const [name] of watched) samples.add('heap', name, await chaos.liveHeap(name));
    }),
    every(60, () => {
      const done = events();
      console.log(`${((performance.now() - t0) / 60_000).toFixed(0)} min: churn ${done.filter((e) => e.event === 'cycle').length} cycles, ${done.filter((e) => e.event === 'failed').length} failed`);
    }),
  ]).then((probes) => probes.find((p) => p.status === 'rejected')?.reason as unknown);
  await Promise.all(churn.map((d) => stop(d)));
  const done = events();
  const cycles = done.filter((e) => e.event === 'cycle').map((e) => e.ms as number).sort((a, b) => a - b);
  const failed = done.filter((e) => e.event === 'failed');
  const leftovers = await settled(() => differences(baseline, chaos.state()));
  const answering = await until(() => chaos.connections.every((c) => (c.ping.replies().at(-1) ?? 0) > Date.now() / 1000 - 3), 30_000, 'every standing connection answering').then(
    () => true,
    () => false,
  );
  const gaps = chaos.connections.map((c) => c.ping.gap(startEpoch));
  const log = chaos.mesh.dump();
  await chaos.dispose();
  if (failure !== undefined) {
    console.error(log);
    throw failure;
  }

  const trends: { figure: string; who: string; trend: Trend }[] = [];
  for (const [figure, of] of samples.byFigure) {
    const { allowance } = figures[figure] as { allowance: Allowance };
    for (const [who, s] of of) trends.push({ figure, who, trend: trend(s, allowance) });
  }
  const growing = trends.filter((t) => !t.trend.flat);
  const summary = {
    date: new Date().toISOString(),
    minutes,
    standingConnections: chaos.connections.length,
    churn: { cycles: cycles.length, failed: failed.length, cycleMsP50: cycles[Math.floor(cycles.length / 2)] ?? null, cycleMsP99: cycles[Math.floor(cycles.length * 0.99)] ?? null, errors: [...new Set(failed.map((f) => f.error))].slice(0, 10) },
    standing: { answeringAtEnd: answering, maxGapS: Math.max(0, ...gaps), connectionsWithGapOver2_5s: gaps.filter((g) => g > 2.5).length },
    leftovers,
    trends,
    samples: Object.fromEntries([...samples.byFigure].map(([f, of]) => [f, Object.fromEntries(of)])),
  };
  writeFileSync(join(dir, 'soak.json'), `${JSON.stringify(summary)}\n`);
  const panels: Panel[] = Object.entries(figures).map(([figure, { unit, scale }]) => ({ title: `${figure}${unit ? ` (${unit})` : ''}`, ...(scale ? { scale } : {}), lines: samples.byFigure.get(figure) ?? new Map() }));
  const svg = chartSvg(panels);
  writeFileSync(join(dir, 'soak.svg'), svg);
  writeFileSync(join(dir, 'soak.png'), new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng());

  console.log(`\n${'figure'.padEnd(8)} ${'of'.padEnd(16)} ${'mean (last half)'.padStart(18)} ${'growth/h'.padStart(12)} ${'allowed/h'.padStart(12)}`);
  for (const { figure, who, trend: t } of trends) {
    const scale = figures[figure]?.scale ?? 1;
    const f = (x: number) => (x / scale).toFixed(scale === 1 ? 1 : 2);
    console.log(`${figure.padEnd(8)} ${who.padEnd(16)} ${f(t.mean).padStart(18)} ${f(t.perHour).padStart(12)} ${f(t.allowedPerHour).padStart(12)}${t.flat ? '' : '  GROWING'}`);
  }
  console.log(`\nchurn: ${cycles.length} connect/close cycles (p50 ${summary.churn.cycleMsP50} ms, p99 ${summary.churn.cycleMsP99} ms), ${failed.length} failed`);
  console.log(`standing connections: ${answering ? 'all answering at the end' : 'NOT all answering at the end'}; longest ping gap ${summary.standing.maxGapS.toFixed(2)} s; ${summary.standing.connectionsWithGapOver2_5s} with a gap over 2.5 s`);
  console.log(`left behind once the churn stopped: ${leftovers.length === 0 ? 'nothing' : leftovers.join('; ')}`);
  console.log(`wrote ${join(dir, 'soak.json')}, soak.svg and soak.png`);
  const bad = [...growing.map((g) => `${g.figure} of ${g.who} grows ${(g.trend.perHour / (figures[g.figure]?.scale ?? 1)).toFixed(1)} ${figures[g.figure]?.unit ?? ''}/h`), ...(failed.length > 0 ? [`${failed.length} churn cycles failed`] : []), ...(answering ? [] : ['standing connections stopped answering']), ...leftovers];
  for (const b of bad) console.error(`FAILED ${b}`);
  if (bad.length > 0) writeFileSync(join(dir, 'daemons.log'), log);
  return bad.length === 0 ? 0 : 1;
}

process.exitCode = await main().catch((e: unknown) => {
  console.error(e);
  return 1;
});

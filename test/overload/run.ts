// `npm run overload -- [--requests=10000 --registers=10000]`: a burst of Requests at one nsmgr and
// of Registers at the registry, all fired at once (issue 21, part 3). Every caller must get an
// answer — OK or a gRPC status with a message — within its deadline and a slack; the daemons
// must live through it with bounded memory and serve normally afterwards; what the burst made is
// Closed / unregistered and must be gone. No root, no netns, no kernel interface: forwarder-noop.
// Prints a table; writes overload-results/overload.json; exits 1 on any failure.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { firstValueFrom, type Observable } from 'rxjs';
import type { Connection } from '../../proto/gen/connection.js';
import type { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { inCheckout } from '../process/processMesh.js';
import { burst, memoryOf, rssPeaks } from './burst.js';
import { asFirstHopSees, burstEndpoints, close, each, nsmgrConnections, OverloadMesh, register, request, unregister } from './mesh.js';
import { latency, memoryBound, messages, tally, unanswered, type Latency, type Outcome } from './stats.js';

/** `--name=N` or `--name N`: a whole number ≥ 0, else `fallback`. */
function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const given = process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? (at >= 0 ? process.argv[at + 1] : undefined);
  if (given === undefined) return fallback;
  const value = Number(given);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number, got ${given}`);
  return value;
}

const deadlineMs = 60_000;
/** Past its deadline, a call has this long to come back with DEADLINE_EXCEEDED before it counts as hung. */
const slackMs = 15_000;
const MiB = 2 ** 20;
/**
 * Peak RSS bound per daemon: 256 MiB (an idle daemon holds 70–90 MiB here; V8 lets its heap run
 * well past what is live before it collects hard) plus 128 KiB per call of the burst. Since
 * Requests past the admission bound wait their turn, every caller gets its connection: at the
 * burst's end each hop holds 10,000 connections (metadata, path, tokens, timers, the next hop's
 * monitor stream), which peaked at 73–93 KiB each with V8's slack (upstream's Go nsmgr holds
 * ~440 KiB per connection at 1,000 clients in `npm run bench -- --only=scale`). Room for slack,
 * not for a copy of anything per call. At 10,000 calls: 1,506 MiB.
 */
const bound = (calls: number) => memoryBound(calls, 256 * MiB, 128 * 1024);

interface BurstReport {
  readonly name: string;
  readonly calls: number;
  readonly codes: [string, number][];
  readonly latencyMs: Latency;
  /** The same per outcome: OK answers and refusals can take very different times. */
  readonly latencyMsByCode: Record<string, Latency>;
  readonly messages: { code: string; message: string; count: number }[];
  /** Peak RSS sampled every 200 ms during the burst, and the kernel's high-water mark (VmHWM) after it, bytes. */
  readonly peakRss: Record<string, { sampled: number | undefined; hwm: number | undefined; bound: number }>;
  readonly alive: boolean;
  readonly servedAfter: boolean;
  readonly leftAfterCleanup: number;
  /** Requests: connections the nsmgr held right after the burst whose callers had not got them (DEADLINE_EXCEEDED). */
  readonly orphansHeld?: number;
}

/** The daemons whose memory a burst is judged by: the ones its calls go through. */
const watchedBy = { requests: ['nsmgr', 'forwarder', 'nse'], registers: ['registry'] } as const;

/**
 * One burst: `fire(i)` for every call at once while the watched daemons' RSS is sampled; then
 * whether they live, whether `normally()` still succeeds, and what `cleanup()` leaves.
 */
async function measure<T>(
  om: OverloadMesh,
  name: keyof typeof watchedBy,
  calls: number,
  fire: (i: number) => Observable<T>,
  after: (results: (T | undefined)[], outcomes: Outcome[]) => Promise<{ servedAfter: boolean; leftAfterCleanup: number }>,
): Promise<{ report: BurstReport; outcomes: Outcome[] }> {
  const pids = new Map(watchedBy[name].map((d) => [d, om.daemons.get(d)?.child.pid]));
  const sampler = rssPeaks(pids);
  const t0 = performance.now();
  const { outcomes, results } = await burst(calls, fire, deadlineMs, slackMs);
  const wallS = (performance.now() - t0) / 1000;
  sampler.stop();
  const peaks = sampler.peaks();
  const peakRss = Object.fromEntries([...pids].map(([d, pid]) => [d, { sampled: peaks.get(d), hwm: memoryOf(pid, 'VmHWM'), bound: bound(calls) }]));
  console.log(`${name}: ${calls} calls answered in ${wallS.toFixed(1)} s`);
  const alive = om.exited().length === 0;
  const { servedAfter, leftAfterCleanup } = alive
    ? await after(results, outcomes).catch((e: unknown) => {
        console.error(`  the checks after the burst failed: ${String(e)}`);
        return { servedAfter: false, leftAfterCleanup: -1 };
      })
    : { servedAfter: false, leftAfterCleanup: -1 };
  const latencyMsByCode = Object.fromEntries(tally(outcomes).map(([code]) => [code, latency(outcomes.filter((o) => o.code === code))]));
  return { report: { name, calls, codes: tally(outcomes), latencyMs: latency(outcomes), latencyMsByCode, messages: messages(outcomes), peakRss, alive, servedAfter, leftAfterCleanup }, outcomes };
}

const succeeds = (p: Promise<unknown>) =>
  p.then(
    () => true,
    (e: unknown) => {
      console.error(`  normal call after the burst failed: ${String(e)}`);
      return false;
    },
  );

async function main(): Promise<number> {
  const requests = arg('requests', 10_000);
  const registers = arg('registers', 10_000);
  const dir = join(dirname(inCheckout('package.json')), 'overload-results');
  mkdirSync(dir, { recursive: true });
  const om = new OverloadMesh();
  try {
    const pool = await om.mesh.nscPool();
    // The checks read every connection of the burst in one monitor event: tens of MB.
    const checks = await om.mesh.nscPool({ maxReceiveBytes: 2 ** 31 });
    const nsmgr = pool.acquire(om.nsmgrUrl);
    const nsmgrChecks = checks.acquire(om.nsmgrUrl);
    const registry = pool.acquire(om.registryUrl);
    // Ready: a normal Request gets through (the NSE and the forwarder have registered).
    const ready = async () => {
      for (let i = 0; ; i++) {
        const conn = await firstValueFrom(request(nsmgr, `overload-ready-${i}`, 5_000)).catch(() => undefined);
        if (conn) return firstValueFrom(close(nsmgr, conn, 5_000));
        if (i > 60 || om.exited().length > 0) throw new Error(`the mesh never served a Request (exited: ${om.exited().join(', ') || 'none'})\n${om.mesh.dump()}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    await ready();
    console.log(`mesh up; bursts of ${requests} Requests at the nsmgr and ${registers} Registers at the registry, ${deadlineMs / 1000} s deadline each`);

    const reports: BurstReport[] = [];
    let orphansHeld = 0;
    const req = await measure<Connection>(
      om,
      'requests',
      requests,
      (i) => request(nsmgr, `overload-${i}`, deadlineMs),
      async (made, outcomes) => {
        const ok = made.filter((c): c is Connection => c !== undefined);
        const held = await nsmgrConnections(nsmgrChecks);
        // As upstream's begin, the nsmgr finishes a Request its caller has given up on
        // (DEADLINE_EXCEEDED) and keeps it until it expires; such a caller learns of it from the
        // monitor (as an nsc adopts a connection) and Closes it. Refused ids were never taken.
        const answered = new Set(ok.map((c) => c.id));
        const gaveUp = new Set(outcomes.flatMap((o, i) => (o.code === 'OK' || o.code === 'RESOURCE_EXHAUSTED' ? [] : [`overload-${i}`])));
        const orphans = held.map(asFirstHopSees).filter((c) => gaveUp.has(c.id) && !answered.has(c.id));
        console.log(`  the nsmgr holds ${held.length} connections: ${ok.length} answered OK, ${orphans.length} whose callers gave up`);
        orphansHeld = orphans.length;
        const normal = await succeeds(firstValueFrom(request(nsmgr, 'overload-after', 30_000)).then((c) => firstValueFrom(close(nsmgr, c, 30_000))));
        const failedCloses = await each([...ok, ...orphans], 200, (c) => close(nsmgr, c, 30_000));
        if (failedCloses > 0) console.error(`  ${failedCloses} Closes failed`);
        return { servedAfter: normal, leftAfterCleanup: await settle(async () => (await nsmgrConnections(nsmgrChecks)).length) };
      },
    );
    reports.push({ ...req.report, orphansHeld });

    const reg = await measure<NetworkServiceEndpoint>(
      om,
      'registers',
      registers,
      (i) => register(registry, `overload-nse-${i}`, deadlineMs),
      async (made) => {
        const ok = made.filter((n): n is NetworkServiceEndpoint => n !== undefined);
        console.log(`  the registry holds ${await burstEndpoints(om, checks)} endpoints of the burst (${ok.length} Registers succeeded)`);
        const normal = await succeeds(firstValueFrom(register(registry, 'overload-after', 30_000)).then((n) => firstValueFrom(unregister(registry, n, 30_000))));
        const failed = await each(ok, 200, (n) => unregister(registry, n, 30_000));
        if (failed > 0) console.error(`  ${failed} Unregisters failed`);
        return { servedAfter: normal, leftAfterCleanup: await settle(() => burstEndpoints(om, checks)) };
      },
    );
    reports.push(reg.report);
    nsmgr.release();
    nsmgrChecks.release();
    registry.release();

    print(reports);
    writeFileSync(join(dir, 'overload.json'), `${JSON.stringify({ date: new Date().toISOString(), deadlineMs, slackMs, reports }, null, 1)}\n`);
    console.log(`wrote ${join(dir, 'overload.json')}`);
    const bad = reports.flatMap(verdict);
    for (const b of bad) console.error(`FAILED ${b}`);
    if (bad.length > 0) writeFileSync(join(dir, 'daemons.log'), om.mesh.dump());
    return bad.length === 0 ? 0 : 1;
  } finally {
    await om.dispose();
  }
}

/** What is still there once Closes and expiries have had up to 30 s to land. */
async function settle(count: () => Promise<number>): Promise<number> {
  let left = await count();
  for (let i = 0; i < 30 && left > 0; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    left = await count();
  }
  return left;
}

function verdict(r: BurstReport): string[] {
  const out: string[] = [];
  if (!r.alive) out.push(`${r.name}: a daemon exited during the burst`);
  for (const [code, n] of r.codes) if (unanswered.includes(code) || code === 'UNTYPED') out.push(`${r.name}: ${n} calls ended ${code}`);
  for (const [d, m] of Object.entries(r.peakRss)) {
    const peak = Math.max(m.sampled ?? 0, m.hwm ?? 0);
    if (peak > m.bound) out.push(`${r.name}: ${d} peaked at ${(peak / MiB).toFixed(0)} MiB, over its bound of ${(m.bound / MiB).toFixed(0)} MiB`);
  }
  if (!r.servedAfter) out.push(`${r.name}: the mesh did not serve a normal call afterwards`);
  if (r.leftAfterCleanup !== 0) out.push(`${r.name}: ${r.leftAfterCleanup} of the burst left after cleanup`);
  return out;
}

function print(reports: readonly BurstReport[]): void {
  const ms = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(0));
  const mib = (x: number | undefined) => (x === undefined ? '-' : (x / MiB).toFixed(0));
  console.log('');
  for (const r of reports) {
    const ok = r.codes.find(([c]) => c === 'OK')?.[1] ?? 0;
    console.log(`${r.name}: ${r.calls} calls, ${ok} OK; ${r.codes.filter(([c]) => c !== 'OK').map(([c, n]) => `${c} ${n}`).join(', ') || 'no errors'}`);
    console.log(`  latency ms: p50 ${ms(r.latencyMs.p50)}, p99 ${ms(r.latencyMs.p99)}, max ${ms(r.latencyMs.max)}`);
    for (const [code, l] of Object.entries(r.latencyMsByCode)) console.log(`    ${code}: p50 ${ms(l.p50)}, p99 ${ms(l.p99)}, max ${ms(l.max)}`);
    for (const [d, m] of Object.entries(r.peakRss)) console.log(`  ${d}: peak RSS ${mib(m.sampled)} MiB sampled, ${mib(m.hwm)} MiB high-water (bound ${mib(m.bound)} MiB)`);
    console.log(`  daemons alive: ${r.alive ? 'yes' : 'NO'}; served normally after: ${r.servedAfter ? 'yes' : 'NO'}; left after cleanup: ${r.leftAfterCleanup}${r.orphansHeld === undefined ? '' : `; held for callers that gave up: ${r.orphansHeld}`}`);
    for (const m of r.messages) console.log(`  ${m.count} × ${m.code}: ${m.message.slice(0, 200)}`);
  }
}

process.exitCode = await main().catch((e: unknown) => {
  console.error(e);
  return 1;
});

// `npm run chaos [-- --short] [-- --connections=N --nscs=K --only=nsmgr,forwarder]`: the chaos
// matrix (as root, on the kernel datapath). Builds the chaos mesh, then for each component kills
// it with SIGKILL and restarts it as a pod would, hangs the nsmgr and the forwarder (SIGSTOP,
// then SIGCONT), and kills an nsc for good with its netns. Measures the
// longest ping silence of every connection, the time until every connection answers again, and
// what is left behind: links, routes, rules, fds, registry entries, and timers by the daemons' own
// counters. Prints a table, writes chaos-results/chaos.json, and exits non-zero when a cell does
// not heal or leaves something behind.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { kernelDatapathMissing } from '../../dataplane/kernel/host.js';
import { inCheckout } from '../process/processMesh.js';
import { ChaosMesh, type NetnsState } from './chaosMesh.js';
import { faultWindow, type FaultWindow } from './faultWindow.js';
import { differences, settled } from './leftovers.js';

/**
 * A fault of the matrix: whose, which — `kill` (-9, restarted at once as a pod), `hang` (SIGSTOP
 * for HANG_S, then SIGCONT), `gone` (an nsc of its own killed with -9 and its netns deleted, a
 * pod gone for good) — and the ping gap upstream's behaviour lets us aim for (s).
 */
interface Cell {
  readonly component: string;
  readonly target: string;
  readonly fault: 'kill' | 'hang' | 'gone';
  readonly gapAimS?: number;
}

/** Longer than a Request's try (15 s): the hung one's callers time out meanwhile. */
const HANG_S = 20;

/** The gone nsc's token lifetime: the hops expire its connections at most this long after its last refresh. */
const GONE_TOKENS_S = 15;

const cells: readonly Cell[] = [
  { component: 'identity', target: 'identity', fault: 'kill', gapAimS: 0 },
  { component: 'registry', target: 'registry', fault: 'kill', gapAimS: 0 },
  { component: 'nsmgr', target: 'nsmgr-0', fault: 'kill', gapAimS: 0 },
  { component: 'forwarder', target: 'forwarder-0', fault: 'kill', gapAimS: 1 },
  { component: 'NSE', target: 'icmp-responder', fault: 'kill' },
  { component: 'nsc', target: 'nsc-0', fault: 'kill' },
  { component: 'nsmgr', target: 'nsmgr-0', fault: 'hang', gapAimS: 0 },
  { component: 'forwarder', target: 'forwarder-0', fault: 'hang', gapAimS: 1 },
  { component: 'nsc', target: 'nsc-gone', fault: 'gone', gapAimS: 0 },
];

const faultWords = { kill: 'kill -9 + restart', hang: `SIGSTOP ${HANG_S} s`, gone: 'kill -9 for good, netns gone' } as const;

interface CellResult extends FaultWindow {
  readonly component: string;
  readonly target: string;
  readonly fault: Cell['fault'];
  readonly gapAimS: number | null;
  readonly leftovers: string[];
  /** From the end of the fault window until nothing was left behind (s; the gone nsc: its tokens' expiry at the hops). */
  readonly cleanAfterS: number;
  /** What the last check before clean still found: what took the time. */
  readonly lastToSettle: string[];
}

const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

/**
 * Open fds that grew by more than `slack` in a daemon that lived through the fault (the one
 * restarted is a new process: its predecessor's fds went with it).
 */
function fdGrowth(before: Record<string, number>, after: Record<string, number>, restarted: string, slack = 10): string[] {
  return Object.entries(after)
    .filter(([name, n]) => name !== restarted && n > (before[name] ?? 0) + slack)
    .map(([name, n]) => `${name} open fds ${before[name]} → ${n}`);
}

/** Daemons of the mesh that are no longer running (none should: each fault's victim was restarted). */
const exited = (chaos: ChaosMesh): string[] =>
  [...chaos.daemons].filter(([, d]) => d.child.exitCode !== null || d.child.signalCode !== null).map(([name, d]) => `${name} exited (${d.child.exitCode ?? d.child.signalCode})`);

async function main(): Promise<number> {
  const missing = kernelDatapathMissing();
  if (missing) {
    console.error(`npm run chaos needs the kernel datapath: ${missing}`);
    return 1;
  }
  const short = process.argv.includes('--short');
  const nscs = Number(arg('nscs') ?? (short ? 4 : 10));
  const perNsc = Math.ceil(Number(arg('connections') ?? (short ? 20 : 100)) / nscs);
  const only = arg('only')?.split(',');
  const chosen = cells.filter((c) => only === undefined || only.includes(c.component));
  const started = performance.now();
  const chaos = await ChaosMesh.build(nscs, perNsc, { env: { PROMETHEUS: 'true', NSM_PROMETHEUS_LISTEN_ON: '127.0.0.1:0' } });
  const results: CellResult[] = [];
  const dir = join(dirname(inCheckout('package.json')), 'chaos-results');
  mkdirSync(dir, { recursive: true });
  // What every daemon said, kept when a cell fails (DBG=1: at DEBUG).
  const logFile = join(dir, 'daemons.log');
  try {
    console.log(`chaos mesh: ${chaos.connections.length} connections from ${nscs} nscs (${perNsc} each), up in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    // Links just made get their IPv6 link-local routes a moment later: let them.
    await new Promise((r) => setTimeout(r, 3000));
    const baseline = { netns: chaos.state(), registered: await chaos.registered() };
    for (const cell of chosen) {
      const result = await runCell(chaos, cell, baseline);
      results.push(result);
      console.log(row(result));
      if (!result.healed || result.leftovers.length > 0) writeFileSync(logFile, chaos.mesh.dump());
    }
  } catch (e) {
    console.error(chaos.mesh.dump());
    throw e;
  } finally {
    await chaos.dispose();
  }
  writeFileSync(join(dir, 'chaos.json'), `${JSON.stringify({ date: new Date().toISOString(), connections: nscs * perNsc, nscs, results }, null, 2)}\n`);
  console.log(`\nwrote ${join(dir, 'chaos.json')}`);
  const failed = results.filter((r) => !r.healed || r.leftovers.length > 0);
  for (const r of failed) console.error(`FAILED ${r.component} (${r.target}): ${r.healed ? '' : 'did not heal; '}${r.leftovers.join('; ')}`);
  if (failed.length > 0) console.error(`what every daemon said: ${logFile}`);
  return failed.length === 0 ? 0 : 1;
}

/** What the mesh held before the first fault: every netns's links, routes and rules; the registry's NSEs. */
interface Baseline {
  readonly netns: Record<string, NetnsState>;
  readonly registered: string[];
}

/** Timers that grew by more than `slack` in a daemon that lived through the fault (by its own counter, nodejs_active_resources). */
async function timerGrowth(chaos: ChaosMesh, before: Record<string, number>, slack = 5): Promise<string[]> {
  const after = await timers(chaos, Object.keys(before));
  return Object.entries(after)
    .filter(([name, n]) => n > (before[name] ?? 0) + slack)
    .map(([name, n]) => `${name} live timers ${before[name]} → ${n}`);
}

/** Live timers of the daemons named, scraped together. */
const timers = async (chaos: ChaosMesh, names: readonly string[]): Promise<Record<string, number>> =>
  Object.fromEntries((await Promise.all(names.map(async (n) => [n, (await chaos.leakCounters(n))?.timers] as const))).filter((e): e is readonly [string, number] => e[1] !== undefined));

/** The registry's NSEs against the baseline's: those missing, and those left behind. */
async function registryDifferences(chaos: ChaosMesh, baseline: Baseline): Promise<string[]> {
  let now: string[];
  try {
    now = await chaos.registered(1);
  } catch (e) {
    return [`registry unreadable: ${String(e)}`]; // a leftover for now: settled() asks again
  }
  return [...baseline.registered.filter((e) => !now.includes(e)).map((e) => `registry lost ${e}`), ...now.filter((e) => !baseline.registered.includes(e)).map((e) => `registry left behind ${e}`)];
}

/**
 * One cell: its fault across the connections' pings, then what is left behind once settled. The
 * gone nsc is started first (its connections over VXLAN, from node 0) and is measured against
 * the mesh as it was without it: once its tokens ran out, the hops must hold nothing of it.
 */
async function runCell(chaos: ChaosMesh, cell: Cell, baseline: Baseline): Promise<CellResult> {
  const survivors = [...chaos.daemons.keys()].filter((n) => cell.fault === 'hang' || n !== cell.target);
  const [fdsBefore, timersBefore] = [chaos.fds(), await timers(chaos, survivors)];
  if (cell.fault === 'gone') await chaos.nscOfItsOwn(cell.target, 0, 5, { NSM_MAX_TOKEN_LIFETIME: `${GONE_TOKENS_S}s` });
  const fault = { kill: () => chaos.killAndRestart(cell.target), hang: () => chaos.hang(cell.target, HANG_S), gone: () => chaos.gone(cell.target) }[cell.fault];
  const window = await faultWindow(chaos.connections, fault);
  const settling = performance.now();
  let lastToSettle: string[] = [];
  const leftovers = await settled(
    async () => [
      ...differences(baseline.netns, chaos.state()),
      ...fdGrowth(fdsBefore, chaos.fds(), cell.fault === 'kill' ? cell.target : ''),
      ...exited(chaos),
      ...(await registryDifferences(chaos, baseline)),
      ...(await timerGrowth(chaos, timersBefore)),
    ],
    cell.fault === 'gone' ? GONE_TOKENS_S + 30 : 30,
    (found) => (lastToSettle = found),
  );
  const cleanAfterS = (performance.now() - settling) / 1000;
  return { component: cell.component, target: cell.target, fault: cell.fault, gapAimS: cell.gapAimS ?? null, ...window, leftovers, cleanAfterS, lastToSettle };
}

/** The cell's gap aim in words, and whether it was met: no loss at all, or a longest gap. */
function aim(r: CellResult): string {
  if (r.gapAimS === null) return '';
  const met = r.gapAimS === 0 ? r.lostConnections === 0 : r.maxGapS <= r.gapAimS;
  return ` (aim ${r.gapAimS === 0 ? 'no loss' : `≤ ${r.gapAimS} s`}: ${met ? 'met' : 'NOT met'})`;
}

const row = (r: CellResult): string =>
  [
    `${r.component} (${r.target}) ${faultWords[r.fault]}`.padEnd(44),
    `max gap ${r.maxGapS.toFixed(2)} s${aim(r)}`.padEnd(40),
    `connections that lost pings ${r.lostConnections}`.padEnd(32),
    r.healed ? `all up after ${r.allUpS.toFixed(2)} s` : 'NOT healed',
    r.leftovers.length === 0 ? `no leftovers (clean after ${r.cleanAfterS.toFixed(1)} s${r.lastToSettle.length > 0 ? `; last to settle: ${r.lastToSettle.join('; ')}` : ''})` : `LEFTOVERS: ${r.leftovers.length}`,
  ].join('  ');

process.exitCode = await main().catch((e: unknown) => {
  console.error(e);
  return 1;
});

import { readFileSync } from 'node:fs';
import { ProcessMesh, type Daemon } from '../process/processMesh.js';
import { referenceBinaries } from '../interop/reference.js';
import { nsmRx, serving, upstream, type ControlPlane, type Side } from './scale.bench.js';
import type { BenchResult } from './stats.js';

/** Settling time after the last daemon started: registered, SVIDs in hand, startup garbage collected. */
const SETTLE_MS = 5000;

/** A process's memory, MiB: resident, of it private (anonymous: heap, malloc) and proportional (shared pages split among their users). */
function memoryOf(d: Daemon): { rss: number; anon: number; pss: number } {
  const status = readFileSync(`/proc/${d.child.pid}/status`, 'utf8');
  const kb = (text: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) / 1024;
  return { rss: kb(status, 'VmRSS'), anon: kb(status, 'RssAnon'), pss: kb(readFileSync(`/proc/${d.child.pid}/smaps_rollup`, 'utf8'), 'Pss') };
}

/** `{ nsmgrRssMiB, nsmgrAnonMiB, nsmgrPssMiB, … }` of each named daemon. */
const figuresOf = (daemons: Readonly<Record<string, Daemon>>): Record<string, number> =>
  Object.fromEntries(
    Object.entries(daemons).flatMap(([name, d]) => {
      const m = memoryOf(d);
      return [
        [`${name}RssMiB`, +m.rss.toFixed(1)],
        [`${name}AnonMiB`, +m.anon.toFixed(1)],
        [`${name}PssMiB`, +m.pss.toFixed(1)],
      ];
    }),
  );

const row = (label: string, extra: Record<string, number>): BenchResult => ({ name: `${label}: idle memory of each daemon (its own process, secure, registered, ${SETTLE_MS / 1000} s settled)`, iterations: 1, opsPerSec: 0, p50Ms: NaN, p99Ms: NaN, extra });

/** One side's registry, nsmgr and NSE (and `more` of them), idle. */
async function idle(side: Side, more: (mesh: ProcessMesh, plane: ControlPlane) => Promise<Record<string, Daemon>>): Promise<Record<string, number>> {
  const mesh = new ProcessMesh();
  try {
    await mesh.nscPool(); // brings the mesh's identity provider up, which upstream's daemons wait for
    const plane = await side.start(mesh);
    const extra = await more(mesh, plane);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    return figuresOf({ registry: plane.registry, nsmgr: plane.nsmgr, nse: plane.nse, ...extra });
  } finally {
    await mesh.dispose();
  }
}

/**
 * Idle memory of every daemon, nsm-rx's and upstream's side by side, and `nsm-rx node` (nsmgr
 * and forwarder-kernel in one process) next to the nsmgr and the forwarder as two processes.
 * The module proxy serves no upstream forwarder, so upstream's "nsmgr + forwarder" is its nsmgr
 * plus its NSE — an sdk endpoint with a registry client, what cmd-forwarder-vpp's Go process is
 * built on (a lower bound: it also carries the VPP API client).
 */
export async function memoryBenchmarks(): Promise<BenchResult[]> {
  const ours = await idle(nsmRx, async (mesh) => {
    const forwarder = mesh.start(undefined, 'forwarder-kernel', { NSM_NAME: 'forwarder', NSM_CONNECT_TO: mesh.sock('nsmgr'), NSM_LISTEN_ON: mesh.sock('forwarder') });
    const node = mesh.start(undefined, 'node', { NSM_NAME: 'node', NSM_FORWARDER_NAME: 'node-forwarder', NSM_LISTEN_ON: mesh.sock('node'), NSM_REGISTRY_URL: mesh.sock('registry'), NSM_EXCLUDED_PREFIXES_FILE: `${mesh.dir}/x.yaml` });
    await serving(mesh, 'node');
    return { forwarder, node };
  });
  const sum = (figures: Record<string, number>, forwarder: string) => +((figures['nsmgrRssMiB'] ?? NaN) + (figures[`${forwarder}RssMiB`] ?? NaN)).toFixed(1);
  const rows = [row('nsm-rx', { ...ours, nsmgrPlusForwarderRssMiB: sum(ours, 'forwarder') })];
  const bin = referenceBinaries(true);
  if (bin === undefined) return rows;
  const theirs = await idle(upstream(bin), () => Promise.resolve({}));
  const theirPair = sum(theirs, 'nse');
  const ratio = (key: string) => +((ours[key] ?? NaN) / (theirs[key] ?? NaN)).toFixed(2);
  return [
    ...rows,
    row('upstream (Go)', {
      ...theirs,
      'nsmgrPlusForwarderRssMiB (nse as the forwarder)': theirPair,
      ...Object.fromEntries(['registry', 'nsmgr', 'nse'].flatMap((d) => [`${d}RssMiB`, `${d}AnonMiB`, `${d}PssMiB`]).map((k) => [`nsm-rx/upstream ${k}`, ratio(k)])),
      'nsm-rx/upstream nsmgr+forwarder as 2 processes': +(sum(ours, 'forwarder') / theirPair).toFixed(2),
      'nsm-rx/upstream node vs nsmgr+forwarder': +((ours['nodeRssMiB'] ?? NaN) / theirPair).toFixed(2),
    }),
  ];
}

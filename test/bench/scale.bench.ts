import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import { filter } from 'rxjs/operators';
import { MonitorConnectionService, State, type Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { client } from '../../operators/chains/client.js';
import { Context } from '../../operators/core/context.js';
import { heal } from '../../operators/networkservice/heal.js';
import { retryClient } from '../../operators/networkservice/retry.js';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import { serverStreamCall } from '../../streams/grpc/call.js';
import { referenceBinaries } from '../interop/reference.js';
import { ProcessMesh, stop, type Daemon } from '../process/processMesh.js';
import { quantile, ratioRows, rssMiB, type BenchResult } from './stats.js';
import { inodeUrlOfFile } from '../../dataplane/kernel/netns.js';

/** The daemons of one side whose memory is compared (the forwarder is nsm-rx's no-op one on both sides). */
export interface ControlPlane {
  readonly registry: Daemon;
  readonly nsmgr: Daemon;
  readonly nse: Daemon;
}

/** One side of the comparison: how it starts its registry, nsmgr and NSE, each its own process. */
export interface Side {
  readonly label: string;
  start(mesh: ProcessMesh): Promise<ControlPlane>;
}

const until = async (what: string, cond: () => boolean, mesh: ProcessMesh): Promise<void> => {
  for (const end = Date.now() + 30_000; !cond(); await new Promise((r) => setTimeout(r, 50))) if (Date.now() > end) throw new Error(`${what}:\n${mesh.dump()}`);
};
export const serving = (mesh: ProcessMesh, name: string) => until(`${name} not serving`, () => existsSync(mesh.sock(name).slice('unix://'.length)), mesh);
const nseEnv = (mesh: ProcessMesh) => ({ NSM_NAME: 'nse', NSM_CONNECT_TO: mesh.sock('nsmgr'), NSM_SERVICE_NAMES: 'icmp-responder', NSM_CIDR_PREFIX: '169.254.0.0/16' });

export const nsmRx: Side = {
  label: 'nsm-rx',
  async start(mesh) {
    const registry = mesh.start(undefined, 'registry-memory', { NSM_LISTEN_ON: mesh.sock('registry') });
    const nsmgr = mesh.start(undefined, 'nsmgr', { NSM_NAME: 'nsmgr', NSM_LISTEN_ON: mesh.sock('nsmgr'), NSM_REGISTRY_URL: mesh.sock('registry'), NSM_EXCLUDED_PREFIXES_FILE: `${mesh.dir}/x.yaml` });
    await serving(mesh, 'nsmgr');
    return { registry, nsmgr, nse: mesh.start(undefined, 'nse-icmp-responder', nseEnv(mesh)) };
  },
};

/** Upstream's registry-memory, nsmgr and nse-icmp-responder (test/interop reference programs, sdk v1.14.5). */
export const upstream = (bin: string): Side => ({
  label: 'upstream (Go)',
  async start(mesh) {
    const registry = mesh.run(undefined, [join(bin, 'registry-memory'), mesh.sock('registry')], {});
    await serving(mesh, 'registry');
    const nsmgr = mesh.run(undefined, [join(bin, 'nsmgr'), 'nsmgr', mesh.sock('nsmgr'), mesh.sock('nsmgr'), mesh.sock('registry')], {});
    await serving(mesh, 'nsmgr');
    return { registry, nsmgr, nse: mesh.run(undefined, [join(bin, 'nse-icmp-responder')], { ...nseEnv(mesh), NSM_LISTEN_ON: mesh.sock('nse') }) };
  },
});

/** A KERNEL request without a netns: the no-op forwarder plumbs nothing, so both sides do the same work. */
const request = (id: string) =>
  NetworkServiceRequest.fromPartial({ connection: { id, networkService: 'icmp-responder' }, mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } }] });

type Nsc = ReturnType<typeof client>;
const nscFor = (pool: ChannelPool, mesh: ProcessMesh, name: string, withHeal = false): Nsc => client({ name, pool, url: parseNsmUrl(mesh.sock('nsmgr')), inodeUrlOf: inodeUrlOfFile, ...(withHeal ? { heal: heal() } : {}) });
const requestThrough = (nsc: Nsc, id: string): Promise<Connection> => firstValueFrom(retryClient(nsc.handler).request(request(id), Context.background.withDeadline(Date.now() + 120_000)));
const closeThrough = (nsc: Nsc, conn: Connection): Promise<void> => lastValueFrom(nsc.handler.close(conn, Context.background.withDeadline(Date.now() + 60_000)), { defaultValue: undefined });

/** A mesh of `side` with nsm-rx's no-op forwarder, ready once a first client got through. */
export async function meshOf(side: Side, env: Readonly<Record<string, string>> = {}): Promise<{ mesh: ProcessMesh; pool: ChannelPool; plane: ControlPlane; forwarder: Daemon }> {
  const mesh = new ProcessMesh(env);
  const pool = await mesh.nscPool(); // secure as deployed: every caller has an SVID from nsm-rx identity
  const plane = await side.start(mesh);
  const forwarder = mesh.start(undefined, 'forwarder-noop', { NSM_NAME: 'forwarder', NSM_CONNECT_TO: mesh.sock('nsmgr'), NSM_LISTEN_ON: mesh.sock('forwarder') });
  const probe = nscFor(pool, mesh, 'probe');
  await closeThrough(probe, await requestThrough(probe, 'probe'));
  probe.state.metadata.dispose();
  return { mesh, pool, plane, forwarder };
}

/** One side's mesh, ready for clients. */
export interface SideMesh {
  readonly side: Side;
  readonly mesh: ProcessMesh;
  readonly pool: ChannelPool;
  readonly plane: ControlPlane;
}

/**
 * Sequential Request (timed) + Close (untimed), one client per side, the first 20 of each
 * untimed (warm-up). With several sides they take turns of `turn` setups, so a slower moment of
 * the machine falls on all alike.
 */
export async function setups(meshes: readonly SideMesh[], iterations: number, turn = 50): Promise<BenchResult[]> {
  const runs = meshes.map(({ side, mesh, pool }) => ({ side, nsc: nscFor(pool, mesh, 'nsc'), samples: new Float64Array(iterations) }));
  const total = iterations + 20;
  for (let start = 0; start < total; start += turn) {
    for (const { nsc, samples } of runs) {
      for (let i = start; i < Math.min(start + turn, total); i++) {
        const t0 = performance.now();
        const conn = await requestThrough(nsc, `setup-${i}`);
        if (i >= 20) samples[i - 20] = performance.now() - t0;
        await closeThrough(nsc, conn);
      }
    }
  }
  return runs.map(({ side, nsc, samples }) => {
    nsc.state.metadata.dispose();
    samples.sort();
    return { name: `${side.label}: local connection setup (Request through nsmgr → forwarder → NSE, processes, no-op datapath)`, iterations, opsPerSec: 0, p50Ms: quantile(samples, 0.5), p99Ms: quantile(samples, 0.99) };
  });
}

/** N clients (one chain each, one channel) request at once: time until all are UP; RSS of each daemon loaded. */
async function concurrentClients({ side, mesh, pool, plane }: SideMesh, n: number): Promise<BenchResult> {
  const clients = Array.from({ length: n }, (_, i) => nscFor(pool, mesh, `nsc-${i}`));
  const latencies = new Float64Array(n);
  const t0 = performance.now();
  const conns = await Promise.all(
    clients.map(async (c, i) => {
      const conn = await requestThrough(c, `nsc-${n}-${i}`);
      latencies[i] = performance.now() - t0;
      return conn;
    }),
  );
  const allUp = performance.now() - t0;
  const rss = { nsmgrRssMiB: rssMiB(plane.nsmgr.child.pid), nseRssMiB: rssMiB(plane.nse.child.pid), registryRssMiB: rssMiB(plane.registry.child.pid) };
  await Promise.all(conns.map((conn, i) => closeThrough(clients[i] as Nsc, conn)));
  clients.forEach((c) => c.state.metadata.dispose());
  latencies.sort();
  return {
    name: `${side.label}: ${n} clients requesting at once on one node: time until all UP`,
    iterations: n,
    opsPerSec: (n / allUp) * 1000,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    extra: { allUpMs: Math.round(allUp), ...Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, +v.toFixed(1)])) },
  };
}

/** One side's mesh with a healing client, ready to have its forwarder killed again and again. */
interface HealRig {
  /** Starts the next forwarder, lets it register and settle, kills the current one: ms until the connection is UP through the new one. */
  heal(): Promise<number>;
  dispose(): Promise<void>;
}

/** A mesh of `side` whose client holds one connection it heals (the nsmgr's monitor tells when it is UP again). */
async function healRig(side: Side): Promise<HealRig> {
  const { mesh, pool, forwarder: first } = await meshOf(side);
  let forwarder = first;
  let started = 0;
  const nsc = nscFor(pool, mesh, 'nsc', true);
  const conn = await requestThrough(nsc, 'nsc-heal').catch(async (e: unknown) => {
    nsc.state.metadata.dispose();
    pool.closeAll();
    await mesh.dispose();
    throw e;
  });
  const monitor = pool.acquire(parseNsmUrl(mesh.sock('nsmgr')));
  // The client's own connection (a monitor caller sees only what it Requested); two segments,
  // so the stream outlives the DELETE of a reselect.
  const [own, hop] = conn.path?.pathSegments ?? [];
  const selector = { pathSegments: [{ name: own?.name ?? '', id: own?.id ?? '', token: '', expires: undefined, metrics: {} }, { name: hop?.name ?? '', id: '', token: '', expires: undefined, metrics: {} }], networkServices: [] };
  return {
    async heal() {
      const name = `forwarder-${++started}`;
      const next = mesh.start(undefined, 'forwarder-noop', { NSM_NAME: name, NSM_CONNECT_TO: mesh.sock('nsmgr'), NSM_LISTEN_ON: mesh.sock(name) });
      await new Promise((r) => setTimeout(r, 1500)); // registered and idle before the kill
      const up = firstValueFrom(
        serverStreamCall(monitor, MonitorConnectionService.monitorConnections, selector, Context.background).pipe(
          filter((e) => Object.values(e.connections).some((c) => c.state !== State.DOWN && c.path?.pathSegments.some((s) => s.name === name))),
        ),
      );
      const t0 = performance.now();
      await stop(forwarder, 'SIGKILL');
      await up;
      forwarder = next;
      return performance.now() - t0;
    },
    async dispose() {
      monitor.release();
      await closeThrough(nsc, conn).catch(() => undefined);
      nsc.state.metadata.dispose();
      pool.closeAll();
      await mesh.dispose();
    },
  };
}

const healRow = (side: Side, times: Float64Array): BenchResult => {
  times.sort();
  return { name: `${side.label}: forwarder kill -9 → connection UP via another forwarder`, iterations: times.length, opsPerSec: 0, p50Ms: quantile(times, 0.5), p99Ms: quantile(times, 0.99), extra: { maxMs: Math.round(times[times.length - 1] ?? NaN) } };
};

const idleRss = ({ plane }: SideMesh) => ({ nsmgrRssMiB: +rssMiB(plane.nsmgr.child.pid).toFixed(1), nseRssMiB: +rssMiB(plane.nse.child.pid).toFixed(1), registryRssMiB: +rssMiB(plane.registry.child.pid).toFixed(1) });

/**
 * The control plane at scale (heal: healBenchmarks), every daemon its own process, secure as
 * deployed: nsm-rx's registry, nsmgr and NSE, and upstream's (when Go can build them) with the
 * same client, the same no-op forwarder and the same scenario, and the ratio nsm-rx/upstream of
 * every figure. Both sides' meshes are up at once: setup (with each daemon's idle RSS) in turns,
 * then 100 and 1,000 clients at once (loaded RSS), nsm-rx's burst and upstream's one after the other.
 */
export async function scaleBenchmarks(quick: boolean): Promise<BenchResult[]> {
  const bin = referenceBinaries(true);
  const sides = bin === undefined ? [nsmRx] : [nsmRx, upstream(bin)];
  const meshes: SideMesh[] = [];
  try {
    for (const side of sides) meshes.push({ side, ...(await meshOf(side)) });
    const idle = meshes.map(idleRss);
    console.error(`connection setup: ${sides.map((s) => s.label).join(', ')} taking turns`);
    const rows = (await setups(meshes, quick ? 200 : 1000)).map((row, k): BenchResult[] => [{ ...row, extra: idle[k] ?? {} }]);
    for (const n of [100, 1000]) {
      for (const [k, m] of meshes.entries()) {
        console.error(`${m.side.label}: ${n} clients at once`);
        rows[k]?.push(await concurrentClients(m, n));
      }
    }
    const [ours = [], theirs] = rows;
    return theirs === undefined ? ours : [...ours, ...ratioRows(ours, theirs)];
  } finally {
    for (const { mesh, pool } of meshes) {
      pool.closeAll();
      await mesh.dispose();
    }
  }
}

/**
 * Forwarder kill -9 → UP via a freshly started forwarder (`--only=heal`): both sides' meshes up
 * at once and their kills taking turns, so a slower moment of the machine falls on both alike.
 */
export async function healBenchmarks(quick: boolean): Promise<BenchResult[]> {
  const samples = quick ? 2 : 11;
  const bin = referenceBinaries(true);
  const sides = bin === undefined ? [nsmRx] : [nsmRx, upstream(bin)];
  const rigs: HealRig[] = [];
  try {
    for (const side of sides) rigs.push(await healRig(side));
    const times = sides.map(() => new Float64Array(samples));
    for (let i = 0; i < samples; i++) for (const [k, rig] of rigs.entries()) times[k][i] = await rig.heal();
    const [ours, ...theirs] = sides.map((side, k) => healRow(side, times[k]));
    return [ours, ...ratioRows([ours], theirs)];
  } finally {
    for (const rig of rigs) await rig.dispose();
  }
}

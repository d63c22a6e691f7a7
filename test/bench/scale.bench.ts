import { readFileSync } from 'node:fs';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import { filter } from 'rxjs/operators';
import { MonitorConnectionService, State, type Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { client } from '../../operators/chains/client.js';
import { Context } from '../../operators/core/context.js';
import { heal } from '../../operators/networkservice/heal.js';
import { createLogger } from '../../operators/tools/log.js';
import { retryClient } from '../../operators/networkservice/retry.js';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import { serverStreamCall } from '../../streams/grpc/call.js';
import { nscEvents, ProcessMesh, stop, type Daemon } from '../process/processMesh.js';
import { quantile, type BenchResult } from './stats.js';

/** Resident memory of a process, MiB (Linux /proc). */
const rssMiB = (pid: number | undefined): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

/** registry, nsmgr, a no-op forwarder and an NSE, each its own process in this netns. */
async function controlPlane(mesh: ProcessMesh): Promise<{ nsmgr: Daemon; forwarder: Daemon }> {
  mesh.start(undefined, 'registry-memory', { NSM_LISTEN_ON: mesh.sock('registry') });
  const nsmgr = mesh.start(undefined, 'nsmgr', { NSM_NAME: 'nsmgr', NSM_LISTEN_ON: mesh.sock('nsmgr'), NSM_REGISTRY_URL: mesh.sock('registry'), NSM_EXCLUDED_PREFIXES_FILE: `${mesh.dir}/x.yaml` });
  const forwarder = mesh.start(undefined, 'forwarder-noop', { NSM_NAME: 'forwarder', NSM_CONNECT_TO: mesh.sock('nsmgr'), NSM_LISTEN_ON: mesh.sock('forwarder') });
  mesh.start(undefined, 'nse-icmp-responder', { NSM_NAME: 'nse', NSM_CONNECT_TO: mesh.sock('nsmgr'), NSM_CIDR_PREFIX: '169.254.0.0/16' });
  // Ready when a probe client gets through.
  const probe = mesh.start(undefined, 'nsc', { NSM_NAME: 'probe', NSM_CONNECT_TO: mesh.sock('nsmgr'), NSM_NETWORK_SERVICES: 'kernel://icmp-responder/nsm-1', NSM_LIVENESS_CHECK_ENABLED: 'false' });
  for (const end = Date.now() + 30_000; nscEvents(probe, 'connected').length === 0; ) {
    if (Date.now() > end) throw new Error(`control plane not ready:\n${mesh.dump()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop(probe);
  return { nsmgr, forwarder };
}

const request = (id: string) =>
  NetworkServiceRequest.fromPartial({ connection: { id, networkService: 'icmp-responder' }, mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } }] });

/** N clients (one chain each, one channel) request at once: time until all are UP, nsmgr RSS. */
async function concurrentClients(n: number): Promise<BenchResult> {
  const mesh = new ProcessMesh();
  const pool = await mesh.nscPool(); // secure as deployed: the clients call with an SVID from nsm-rx identity
  try {
    const { nsmgr } = await controlPlane(mesh);
    const url = parseNsmUrl(mesh.sock('nsmgr'));
    const idle = rssMiB(nsmgr.child.pid);
    const clients = Array.from({ length: n }, (_, i) => client({ name: `nsc-${i}`, pool, url }));
    const latencies = new Float64Array(n);
    const t0 = performance.now();
    const conns = await Promise.all(
      clients.map(async (c, i) => {
        const conn = await firstValueFrom(retryClient(c.handler).request(request(`nsc-${i}`), Context.background.withDeadline(Date.now() + 60_000)));
        latencies[i] = performance.now() - t0;
        return conn;
      }),
    );
    const allUp = performance.now() - t0;
    const loaded = rssMiB(nsmgr.child.pid);
    await Promise.all(conns.map((conn, i) => lastValueFrom((clients[i] as (typeof clients)[number]).handler.close(conn, Context.background.withDeadline(Date.now() + 60_000)), { defaultValue: undefined })));
    clients.forEach((c) => c.state.metadata.dispose());
    latencies.sort();
    return {
      name: `${n} clients requesting at once on one node (processes, no-op datapath): time until all UP`,
      iterations: n,
      opsPerSec: (n / allUp) * 1000,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      extra: { allUpMs: Math.round(allUp), nsmgrRssIdleMiB: +idle.toFixed(1), nsmgrRssLoadedMiB: +loaded.toFixed(1) },
    };
  } finally {
    pool.closeAll();
    await mesh.dispose();
  }
}

/** Forwarder kill -9 → the client's connection UP again through another forwarder (nsmgr monitor), several times. */
async function healLatency(samples: number): Promise<BenchResult> {
  const mesh = new ProcessMesh();
  const pool = await mesh.nscPool();
  try {
    let { forwarder } = await controlPlane(mesh);
    const url = parseNsmUrl(mesh.sock('nsmgr'));
    const nsc = client({ name: 'nsc', pool, url, heal: heal(process.env['DBG'] ? { logger: createLogger('bench-nsc', 'DEBUG') } : {}) });
    const conn: Connection = await firstValueFrom(retryClient(nsc.handler).request(request('nsc-heal'), Context.background.withDeadline(Date.now() + 30_000)));
    const monitor = pool.acquire(url);
    // The client's own connection (a monitor caller sees only what it Requested); two segments,
    // so the stream outlives the DELETE of a reselect.
    const [own, hop] = conn.path?.pathSegments ?? [];
    const selector = { pathSegments: [{ name: own?.name ?? '', id: own?.id ?? '', token: '', expires: undefined, metrics: {} }, { name: hop?.name ?? '', id: '', token: '', expires: undefined, metrics: {} }], networkServices: [] };
    const times = new Float64Array(samples);
    for (let i = 0; i < samples; i++) {
      const name = `forwarder-${i + 1}`;
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
      times[i] = performance.now() - t0;
      forwarder = next;
    }
    monitor.release();
    await lastValueFrom(nsc.handler.close(conn, Context.background.withDeadline(Date.now() + 15_000)), { defaultValue: undefined }).catch(() => undefined);
    nsc.state.metadata.dispose();
    times.sort();
    return { name: 'forwarder kill -9 → connection UP via another forwarder (processes, no-op datapath)', iterations: samples, opsPerSec: 0, p50Ms: quantile(times, 0.5), p99Ms: quantile(times, 0.99), extra: { maxMs: Math.round(times[samples - 1] ?? NaN) } };
  } finally {
    pool.closeAll();
    await mesh.dispose();
  }
}

/** Control plane at scale and under failure, every daemon its own process. */
export async function scaleBenchmarks(quick: boolean): Promise<BenchResult[]> {
  return [await concurrentClients(quick ? 100 : 1000), await healLatency(quick ? 2 : 5)];
}

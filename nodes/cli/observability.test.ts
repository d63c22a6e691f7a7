import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startOtlpReceiver } from '../../test/otlp/receiver.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const started: { child: ChildProcess; dir: string }[] = [];
afterEach(() => {
  for (const { child, dir } of started.splice(0)) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

/** `nsm-rx registry-memory` (NSM_INSECURE) with `env`; resolves with the URL (or other `field`) its INFO line `msg` names. */
function daemonSaying(msg: string, env: Record<string, string>, field = 'url'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-observability-'));
  const child = spawn(process.execPath, ['bin/nsm-rx.js', 'registry-memory'], {
    cwd: root,
    env: { ...process.env, NSM_INSECURE: 'true', NSM_LOG_LEVEL: 'INFO', NSM_LISTEN_ON: `unix://${join(dir, 'registry.sock')}`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push({ child, dir });
  let out = '';
  return new Promise((resolve, reject) => {
    const read = (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n').find((l) => l.includes(`"msg":"${msg}"`));
      if (line) resolve(String((JSON.parse(line) as Record<string, unknown>)[field]));
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('exit', (code) => reject(new Error(`exited ${String(code)} before saying "${msg}":\n${out}`)));
  });
}

describe('a daemon’s observability endpoints (needs npm run build)', () => {
  it('NSM_PPROF_ENABLED: a CPU profile over the seconds asked, a heap snapshot, in V8’s formats, and the heap’s statistics after a full collection; a bad duration is 400', async () => {
    const url = await daemonSaying('profiler is enabled', { NSM_PPROF_ENABLED: 'true', NSM_PPROF_LISTEN_ON: '127.0.0.1:0' });
    expect(await (await fetch(url)).text()).toContain('/debug/pprof/profile?seconds=30');
    const profile = (await (await fetch(`${url}profile?seconds=1`)).json()) as { nodes: { callFrame: { functionName: string } }[]; startTime: number; endTime: number };
    expect(profile.nodes.length).toBeGreaterThan(1);
    expect(profile.endTime - profile.startTime).toBeGreaterThanOrEqual(900_000); // µs
    const heap = (await (await fetch(`${url}heap`)).json()) as { snapshot: { node_count: number }; strings: string[] };
    expect(heap.snapshot.node_count).toBeGreaterThan(1000);
    expect(heap.strings).toContain('NetworkServiceEndpoint');
    const statistics = async (query: string) => Object.fromEntries([...(await (await fetch(`${url}heap?${query}`)).text()).matchAll(/^(\w+) (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
    const [before, collected] = [await statistics('debug=1'), await statistics('debug=1&gc=1')];
    expect(collected['used_heap_size']).toBeGreaterThan(1 << 20);
    expect(collected['used_heap_size']).toBeLessThan(before['used_heap_size'] ?? 0); // the snapshot's and the profile's garbage, collected
    const bad = await fetch(`${url}profile?seconds=forever`);
    expect([bad.status, await bad.text()]).toEqual([400, 'seconds=forever: expected a number of seconds in (0, 300]\n']);
  }, 30_000);

  it('PROMETHEUS with NSM_INSECURE: plain HTTP /metrics with the gRPC server metrics and process metrics', async () => {
    const url = await daemonSaying('serving Prometheus metrics', { PROMETHEUS: 'true', NSM_PROMETHEUS_LISTEN_ON: '127.0.0.1:0' });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const text = await (await fetch(url)).text();
    expect(text).toContain('# TYPE grpc_server_handled_total counter');
    expect(text).toContain('nsm_registry_network_service_endpoints 0');
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
  }, 30_000);

  it('TELEMETRY: the metrics pushed over OTLP/gRPC every NSM_METRICS_EXPORT_INTERVAL, without a Prometheus endpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-otlp-'));
    const receiver = await startOtlpReceiver(`unix:${join(dir, 'otlp.sock')}`);
    try {
      const env = { TELEMETRY: 'true', NSM_OPEN_TELEMETRY_ENDPOINT: `unix://${join(dir, 'otlp.sock')}`, NSM_METRICS_EXPORT_INTERVAL: '200ms', NSM_NAME: 'registry-a' };
      expect(await daemonSaying('exporting traces and metrics', env, 'interval')).toBe('200ms');
      const exported = (metric: string) => receiver.points.filter((p) => p.service === 'registry-a' && p.metric === metric);
      // Several pushes within a few intervals: it is periodic, not once.
      await expect.poll(() => exported('nsm_registry_network_service_endpoints').length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
      expect(exported('nsm_registry_network_service_endpoints')[0]).toMatchObject({ kind: 'gauge', value: 0 });
      expect(exported('process_cpu_user_seconds')[0]).toMatchObject({ kind: 'sum', monotonic: true, unit: 's' });
      expect(receiver.spans).toEqual([]); // no call was made
    } finally {
      await receiver.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

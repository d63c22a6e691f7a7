import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nscEvents, type Daemon } from '../process/processMesh.js';
import { useProcessMesh } from '../process/useProcessMesh.js';
import { referenceBinaries } from './reference.js';

const bin = referenceBinaries();

const mesh = useProcessMesh();

/** What test/interop/go/cmd/monitor printed: the first event, or why it was refused. */
interface MonitorResult {
  readonly spiffeId: string;
  readonly type?: string;
  readonly connections?: Record<string, string[]>;
  readonly code?: string;
  readonly message?: string;
}

/** Runs upstream's dashboard-style monitor call at `url` and answers its exit code and JSON line. */
async function upstreamMonitor(url: string): Promise<{ code: number | null; result: MonitorResult }> {
  const d: Daemon = mesh().run(undefined, [join(bin as string, 'monitor'), url], {});
  await expect.poll(() => d.child.exitCode, { timeout: 20_000 }).not.toBeNull();
  const line = d.out.split('\n').find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error(`the monitor program printed no result:\n${d.out}`);
  return { code: d.child.exitCode, result: JSON.parse(line) as MonitorResult };
}

/** An nsm-rx nsmgr with an in-process registry on a unix socket; answers its URL once it serves. */
async function nsmgr(env: Record<string, string> = {}): Promise<string> {
  const url = mesh().sock('nsmgr');
  mesh().start(undefined, 'nsmgr', { NSM_NAME: 'nsmgr', NSM_LISTEN_ON: url, NSM_REGISTRY_URL: '', NSM_EXCLUDED_PREFIXES_FILE: join(mesh().dir, 'x.yaml'), ...env });
  await expect.poll(() => existsSync(url.replace(/^unix:\/\//, '')), { timeout: 20_000 }).toBe(true);
  return url;
}

describe('MonitorConnections of an nsm-rx nsmgr called as upstream’s dashboard backend calls it (sdk v1.14.5 client, empty selector)', () => {
  if (bin === undefined) return;

  it('a caller that owns no connection gets INITIAL_STATE_TRANSFER with the live connection (upstream nsmgr: no monitor policy)', async () => {
    const url = await nsmgr();
    mesh().start(undefined, 'forwarder-noop', { NSM_NAME: 'forwarder', NSM_CONNECT_TO: url, NSM_LISTEN_ON: mesh().sock('forwarder') });
    mesh().start(undefined, 'nse-icmp-responder', { NSM_NAME: 'icmp-server', NSM_CONNECT_TO: url, NSM_CIDR_PREFIX: '169.254.1.0/31' });
    const nsc = mesh().start(undefined, 'nsc', { NSM_NAME: 'nsc', NSM_CONNECT_TO: url, NSM_NETWORK_SERVICES: 'kernel://icmp-responder/nsm-1', NSM_LIVENESS_CHECK_ENABLED: 'false' });
    await expect.poll(() => nscEvents(nsc, 'connected').length, { timeout: 30_000 }).toBe(1);

    const { code, result } = await upstreamMonitor(url);
    expect(code).toBe(0);
    expect(result.spiffeId).toMatch(/\/monitor$/); // an identity of its own, owning nothing
    expect(result.type).toBe('INITIAL_STATE_TRANSFER');
    expect(Object.values(result.connections ?? {})).toEqual([['nsc', 'nsmgr', 'forwarder', 'icmp-server']]);
  });

  it('with NSM_MONITOR_POLICIES=etc/nsm/opa/monitor/service_connection.rego the same call is refused with PermissionDenied', async () => {
    const url = await nsmgr({ NSM_MONITOR_POLICIES: 'etc/nsm/opa/monitor/service_connection.rego' });
    const { code, result } = await upstreamMonitor(url);
    expect(code).toBe(1);
    expect(result.code).toBe('PermissionDenied');
    expect(result.message).toMatch(/service_connection: .*\/monitor must select the connections it owns/);
  });
});

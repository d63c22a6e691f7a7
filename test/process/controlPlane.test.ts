import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { MonitorConnectionService, State } from '../../proto/gen/connection.js';
import { Context } from '../../operators/core/context.js';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import { serverStreamCall } from '../../streams/grpc/call.js';
import { nscEvents, stop } from './processMesh.js';
import { useProcessMesh } from './useProcessMesh.js';

const mesh = useProcessMesh();

describe('control plane across OS processes: registry-memory, nsmgr, forwarder-noop, nse-icmp-responder, nsc', () => {
  it('the nsc gets a 4-segment connection with the NSE’s /31 addresses (172.16.1.100/31: NSE .100, client .101); kill -9 of the forwarder and another one started → the nsc heals through it; SIGTERM closes', async () => {
    const noop = (name: string) => mesh().start(undefined, 'forwarder-noop', { NSM_NAME: name, NSM_CONNECT_TO: mesh().sock('nsmgr'), NSM_LISTEN_ON: mesh().sock(name) });
    mesh().start(undefined, 'registry-memory', { NSM_LISTEN_ON: mesh().sock('registry') });
    mesh().start(undefined, 'nsmgr', { NSM_NAME: 'nsmgr', NSM_LISTEN_ON: mesh().sock('nsmgr'), NSM_REGISTRY_URL: mesh().sock('registry'), NSM_EXCLUDED_PREFIXES_FILE: `${mesh().dir}/x.yaml` });
    const first = noop('forwarder');
    mesh().start(undefined, 'nse-icmp-responder', { NSM_NAME: 'icmp-server', NSM_CONNECT_TO: mesh().sock('nsmgr'), NSM_CIDR_PREFIX: '172.16.1.100/31' });
    const nsc = mesh().start(undefined, 'nsc', {
      NSM_NAME: 'nsc',
      NSM_CONNECT_TO: mesh().sock('nsmgr'),
      NSM_NETWORK_SERVICES: 'kernel://icmp-responder/nsm-1?app=test',
      NSM_LIVENESS_CHECK_ENABLED: 'false', // no datapath to probe
    });
    await expect.poll(() => nscEvents(nsc, 'connected').length, { timeout: 20_000 }).toBe(1);
    const conn = JSON.parse(nsc.out.split('\n').find((l) => l.includes('"connected"')) as string).connection as {
      id: string;
      labels: Record<string, string>;
      mechanism: { type: string };
      payload: string;
      path: { pathSegments: { name: string; id: string }[] };
      context: { ipContext: { srcIpAddrs: string[]; dstIpAddrs: string[] } };
    };
    expect(conn.id).toBe('nsc-0');
    expect(conn.path.pathSegments.map((p) => p.name)).toEqual(['nsc', 'nsmgr', 'forwarder', 'icmp-server']);
    expect(conn.context.ipContext.dstIpAddrs).toEqual(['172.16.1.100/32']);
    expect(conn.context.ipContext.srcIpAddrs).toEqual(['172.16.1.101/32']);
    expect(conn.labels).toEqual({ app: 'test' });
    expect(conn.mechanism.type).toBe('KERNEL');
    expect(conn.payload).toBe('ETHERNET');

    // Heal: the nsmgr's monitor shows the connection UP again through the new forwarder. Watched
    // as the nsc (as NSM_MONITOR_POLICIES=service_connection would require), and afresh each
    // time: while a reselect heal runs, the connection is closed and not yet anyone's.
    const monitor = (await mesh().nscPool()).acquire(parseNsmUrl(mesh().sock('nsmgr')));
    const own = { name: 'nsc', id: conn.path.pathSegments[0]?.id ?? '', token: '', expires: undefined, metrics: {} };
    const pathNow = () =>
      firstValueFrom(serverStreamCall(monitor, MonitorConnectionService.monitorConnections, { pathSegments: [own], networkServices: [] }, Context.background)).then(
        // Not DOWN: after a reselect the nsmgr keeps the state the client sent (RESELECT_REQUESTED).
        (e) => Object.values(e.connections).find((c) => c.state !== State.DOWN)?.path?.pathSegments.map((s) => s.name),
        () => undefined,
      );
    expect(await pathNow()).toEqual(['nsc', 'nsmgr', 'forwarder', 'icmp-server']);
    await stop(first, 'SIGKILL');
    noop('forwarder-2');
    await expect.poll(pathNow, { timeout: 20_000, interval: 200 }).toEqual(['nsc', 'nsmgr', 'forwarder-2', 'icmp-server']);
    monitor.release();

    expect(await stop(nsc)).toBe(0);
    expect(nscEvents(nsc, 'closed')).toHaveLength(1);
  });

  it('NSM_IDLE_TIMEOUT: the NSE stays while it has a connection and exits (code 0) once it has had none for that long', async () => {
    mesh().start(undefined, 'registry-memory', { NSM_LISTEN_ON: mesh().sock('registry') });
    mesh().start(undefined, 'nsmgr', { NSM_NAME: 'nsmgr', NSM_LISTEN_ON: mesh().sock('nsmgr'), NSM_REGISTRY_URL: mesh().sock('registry'), NSM_EXCLUDED_PREFIXES_FILE: `${mesh().dir}/x.yaml` });
    mesh().start(undefined, 'forwarder-noop', { NSM_NAME: 'forwarder', NSM_CONNECT_TO: mesh().sock('nsmgr'), NSM_LISTEN_ON: mesh().sock('forwarder') });
    const nsc = mesh().start(undefined, 'nsc', { NSM_NAME: 'nsc', NSM_CONNECT_TO: mesh().sock('nsmgr'), NSM_NETWORK_SERVICES: 'kernel://icmp-responder/nsm-1', NSM_LIVENESS_CHECK_ENABLED: 'false' });
    // The idle timer starts with the NSE, before it has registered: on a loaded machine the
    // first connection came more than 2 s later, and the NSE had gone (as upstream's would).
    const nse = mesh().start(undefined, 'nse-icmp-responder', { NSM_NAME: 'icmp-server', NSM_CONNECT_TO: mesh().sock('nsmgr'), NSM_IDLE_TIMEOUT: '6s' });
    await expect.poll(() => nscEvents(nsc, 'connected').length, { timeout: 20_000 }).toBe(1);
    await new Promise((r) => setTimeout(r, 6500)); // longer than the idle timeout, with a connection
    expect(nse.child.exitCode).toBeNull();
    expect(await stop(nsc)).toBe(0); // closes: the NSE has no connection left
    const code = await new Promise<number | null>((r) => (nse.child.exitCode !== null ? r(nse.child.exitCode) : nse.child.once('exit', r)));
    expect(code).toBe(0);
  });

  it('nsc-init requests and exits 0 leaving the connection; the nsc of the same name adopts it (same ids at every hop, same addresses); nsc-init exits 1 naming a service it cannot get', async () => {
    mesh().start(undefined, 'registry-memory', { NSM_LISTEN_ON: mesh().sock('registry') });
    mesh().start(undefined, 'nsmgr', { NSM_NAME: 'nsmgr', NSM_LISTEN_ON: mesh().sock('nsmgr'), NSM_REGISTRY_URL: mesh().sock('registry'), NSM_EXCLUDED_PREFIXES_FILE: `${mesh().dir}/x.yaml` });
    mesh().start(undefined, 'forwarder-noop', { NSM_NAME: 'forwarder', NSM_CONNECT_TO: mesh().sock('nsmgr'), NSM_LISTEN_ON: mesh().sock('forwarder') });
    mesh().start(undefined, 'nse-icmp-responder', { NSM_NAME: 'icmp-server', NSM_CONNECT_TO: mesh().sock('nsmgr') });
    const env = { NSM_NAME: 'app', NSM_CONNECT_TO: mesh().sock('nsmgr'), NSM_NETWORK_SERVICES: 'kernel://icmp-responder/nsm-1', NSM_LIVENESS_CHECK_ENABLED: 'false' };
    const init = mesh().start(undefined, 'nsc-init', env);
    const initCode = await new Promise<number | null>((r) => init.child.once('exit', r));
    expect(initCode, init.out).toBe(0);
    const made = nscEvents(init, 'connected')[0] as unknown as { path: { pathSegments: { name: string; id: string }[] }; context: unknown };
    expect(made.path.pathSegments.map((s) => s.name)).toEqual(['app', 'nsmgr', 'forwarder', 'icmp-server']);

    const nsc = mesh().start(undefined, 'nsc', env);
    await expect.poll(() => nscEvents(nsc, 'connected').length, { timeout: 20_000 }).toBe(1);
    const adopted = nscEvents(nsc, 'connected')[0] as unknown as typeof made;
    expect(adopted.path.pathSegments.map((s) => s.id)).toEqual(made.path.pathSegments.map((s) => s.id));
    expect(adopted.context).toEqual(made.context);
    expect(await stop(nsc)).toBe(0);

    const failing = mesh().start(undefined, 'nsc-init', { ...env, NSM_NAME: 'other', NSM_NETWORK_SERVICES: 'kernel://no-such-service/nsm-1', NSM_REQUEST_TIMEOUT: '1s' });
    expect(await new Promise<number | null>((r) => failing.child.once('exit', r))).toBe(1);
    expect(failing.out).toMatch(/kernel:\/\/no-such-service\/nsm-1: no connection within NSM_REQUEST_TIMEOUT/);
  });

  it('start order does not matter: an NSE and a forwarder started before their nsmgr and registry keep trying (logging each failed try, past 15 s) and register once the nsmgr comes; the nsc then connects', async () => {
    const nse = mesh().start(undefined, 'nse-icmp-responder', { NSM_NAME: 'icmp-server', NSM_CONNECT_TO: mesh().sock('nsmgr') });
    const forwarder = mesh().start(undefined, 'forwarder-noop', { NSM_NAME: 'forwarder', NSM_CONNECT_TO: mesh().sock('nsmgr'), NSM_LISTEN_ON: mesh().sock('forwarder') });
    // Every failed try is logged; past a try's 15 s budget (where a total deadline would have
    // ended them) both are still there, still trying.
    const failures = (d: typeof nse) => d.out.split('registry call failed; trying again').length - 1;
    await expect.poll(() => [nse, forwarder].every((d) => failures(d) > 0), { timeout: 20_000, interval: 200 }).toBe(true);
    const before = [nse, forwarder].map(failures);
    await new Promise((r) => setTimeout(r, 16_000));
    expect([nse.child.exitCode, forwarder.child.exitCode]).toEqual([null, null]);
    expect([nse, forwarder].map(failures).every((n, i) => n > (before[i] ?? 0))).toBe(true);
    mesh().start(undefined, 'registry-memory', { NSM_LISTEN_ON: mesh().sock('registry') });
    mesh().start(undefined, 'nsmgr', { NSM_NAME: 'nsmgr', NSM_LISTEN_ON: mesh().sock('nsmgr'), NSM_REGISTRY_URL: mesh().sock('registry'), NSM_EXCLUDED_PREFIXES_FILE: `${mesh().dir}/x.yaml` });
    const nsc = mesh().start(undefined, 'nsc', { NSM_NAME: 'nsc', NSM_CONNECT_TO: mesh().sock('nsmgr'), NSM_NETWORK_SERVICES: 'kernel://icmp-responder/nsm-1', NSM_LIVENESS_CHECK_ENABLED: 'false' });
    await expect.poll(() => nscEvents(nsc, 'connected').length, { timeout: 40_000 }).toBe(1);
    expect(nscEvents(nsc, 'connected')[0]?.path.pathSegments.map((p) => p.name)).toEqual(['nsc', 'nsmgr', 'forwarder', 'icmp-server']);
  }, 90_000);
});

import { expect, it } from 'vitest';
import { describeKernel, pings, useNamespaces } from '../kernel/namespaces.js';
import { nscEvents, stop } from './processMesh.js';
import { useProcessMesh } from './useProcessMesh.js';

const mesh = useProcessMesh();

describeKernel('nsc adoption across OS processes', () => {
  const ns = useNamespaces();

  it('nsc-init’s connection whose NSE died with its netns: the nsmgr reports it DOWN, the liveness check fails → the nsc reselects at once, and ping answers at the other NSE', async () => {
    const [host, nscNs, nseNs, nse2Ns] = [ns.make('node0'), ns.make('nsc'), ns.make('nse'), ns.make('nse2')];
    mesh().node(host, 0);
    const first = mesh().nse(nseNs, 0);
    const env = { NSM_NAME: 'app', NSM_CONNECT_TO: mesh().sock('nsmgr-0'), NSM_NETWORK_SERVICES: 'kernel://icmp-responder/nsm-1', NSM_REQUEST_TIMEOUT: '5s' };
    const init = mesh().start(nscNs, 'nsc-init', env);
    expect(await new Promise<number | null>((r) => init.child.once('exit', r))).toBe(0);
    expect(pings(nscNs, '169.254.1.0')).toBe(true);

    await stop(first, 'SIGKILL');
    ns.remove(nseNs); // the pod is gone: its netns and the interface in it go too
    mesh().nse(nse2Ns, 0, 'icmp-responder-2', '169.254.2.0/24');
    const client = mesh().start(nscNs, 'nsc', { ...env, NSM_LOG_LEVEL: 'INFO' });
    await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 30_000 }).toBe(1);
    expect(nscEvents(client, 'connected')[0]?.path.pathSegments.map((s) => s.name)).toEqual(['app', 'nsmgr-0', 'forwarder-0', 'icmp-responder-2']);
    expect(client.out).toMatch(/the endpoint of the existing connection is unavailable: reselecting.*"afterFailedTry":false/);
    // The second NSE's address as the connection reports it (tries that timed out under load
    // may have taken the first ones of its pool).
    const second = nscEvents(client, 'connected')[0]?.context.ipContext.dstIpAddrs.find((a) => a.startsWith('169.254.2.'));
    expect(second).toBeDefined();
    expect(pings(nscNs, (second ?? '').replace(/\/\d+$/, ''))).toBe(true);
    expect(await stop(client)).toBe(0);
  });

  it('nsc-init’s connection whose NSE hangs (SIGSTOP; its netns, and so the datapath, still answer): the adopted refresh fails within NSM_REQUEST_TIMEOUT, and the next try reselects instead of asking the hung NSE forever', async () => {
    const [host, nscNs, nseNs, nse2Ns] = [ns.make('node0'), ns.make('nsc'), ns.make('nse'), ns.make('nse2')];
    mesh().node(host, 0);
    const first = mesh().nse(nseNs, 0);
    const env = { NSM_NAME: 'app', NSM_CONNECT_TO: mesh().sock('nsmgr-0'), NSM_NETWORK_SERVICES: 'kernel://icmp-responder/nsm-1' };
    // nsc-init starts with the mesh and retries until it is up (a loaded CI machine took more than 3 s)
    const init = mesh().start(nscNs, 'nsc-init', { ...env, NSM_REQUEST_TIMEOUT: '15s' });
    expect(await new Promise<number | null>((r) => init.child.once('exit', r))).toBe(0);

    first.child.kill('SIGSTOP');
    mesh().nse(nse2Ns, 0, 'icmp-responder-2', '169.254.2.0/24');
    const client = mesh().start(nscNs, 'nsc', { ...env, NSM_REQUEST_TIMEOUT: '3s', NSM_LOG_LEVEL: 'INFO' });
    await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 40_000 }).toBe(1);
    expect(nscEvents(client, 'connected')[0]?.path.pathSegments.map((s) => s.name)).toEqual(['app', 'nsmgr-0', 'forwarder-0', 'icmp-responder-2']);
    expect(client.out).toMatch(/adopting the existing connection[^\n]*\n[^]*request failed, retrying[^]*reselecting[^\n]*"afterFailedTry":true/);
    // The second NSE's address as the connection reports it (tries that timed out under load
    // may have taken the first ones of its pool).
    const second = nscEvents(client, 'connected')[0]?.context.ipContext.dstIpAddrs.find((a) => a.startsWith('169.254.2.'));
    expect(second).toBeDefined();
    expect(pings(nscNs, (second ?? '').replace(/\/\d+$/, ''))).toBe(true);
    expect(await stop(client)).toBe(0);
  });
});

import { BehaviorSubject, firstValueFrom } from 'rxjs';
import { NetworkService } from '../../proto/gen/registry.js';
import type { Connection } from '../../proto/gen/connection.js';
import { Context } from '../../operators/core/context.js';
import { describe, expect, it } from 'vitest';
import { point2pointIpam } from '../../operators/networkservice/point2pointIpam.js';
import { strictIpam } from '../../operators/networkservice/strictIpam.js';
import { Mesh } from '../sandbox/mesh.js';
import { useSandbox } from '../sandbox/harness.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };
const request = (id: string, ns = 'ns') => ({ connection: { id, networkService: ns }, mechanismPreferences: [kernel] });
const names = (c: { path?: { pathSegments: { name: string }[] } }) => c.path?.pathSegments.map((s) => s.name);

describe('chains/nsmgr (upstream scenario suite)', () => {
  const h = useSandbox();

  it('Test_LocalUsecase: 4 segments, a refresh reaches the NSE again, Close reaches it once', async () => {
    const sandbox = h.sandbox;
    const mesh = await Mesh.build(sandbox);
    const nse = await mesh.endpoint(0, 'final-endpoint');
    const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    const conn = await nsc.request(request('nsc-1'));
    expect(names(conn)).toEqual(['nsc', 'nsmgr-0', 'forwarder-0-0', 'final-endpoint']);
    expect(conn.networkServiceEndpointName).toBe('final-endpoint');
    expect(nse.counter.requests).toBe(1);
    const refreshed = await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    expect(names(refreshed)).toHaveLength(4);
    expect(nse.counter.requests).toBe(2);
    await nsc.close(refreshed);
    expect(nse.counter.closes).toBe(1);
  });

  it('Test_RemoteUsecase: 6 segments through both nodes, a refresh reaches the NSE again, Close once', async () => {
    const sandbox = h.sandbox;
    const mesh = await Mesh.build(sandbox, { nodes: 2 });
    const nse = await mesh.endpoint(1, 'final-endpoint');
    const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    const conn = await nsc.request(request('nsc-1'));
    expect(names(conn)).toEqual(['nsc', 'nsmgr-0', 'forwarder-0-0', 'nsmgr-1', 'forwarder-1-0', 'final-endpoint']);
    expect(mesh.nodes[0]!.datapaths.get('forwarder-0-0')?.programmed.size).toBe(1);
    const refreshed = await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    expect(names(refreshed)).toHaveLength(6);
    expect(nse.counter.requests).toBe(2);
    await nsc.close(refreshed);
    expect(nse.counter.closes).toBe(1);
    expect(mesh.nodes[0]!.datapaths.get('forwarder-0-0')?.programmed.size).toBe(0);
  });
});

describe('chains/nsmgr: addresses', () => {
  const h = useSandbox();

  it('point-to-point IPAM gives the NSE the first free address and the client the next; a Closed pair is handed out again once the prefix wrapped (next fit)', async () => {
    const sandbox = h.sandbox;
    const mesh = await Mesh.build(sandbox);
    await mesh.endpoint(0, 'final-endpoint', { additional: [point2pointIpam(['169.254.0.0/29'])] });
    const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    const first = await nsc.request(request('nsc-1'));
    expect(first.context?.ipContext?.dstIpAddrs).toEqual(['169.254.0.0/32']);
    expect(first.context?.ipContext?.srcIpAddrs).toEqual(['169.254.0.1/32']);
    const later = [await nsc.request(request('nsc-2'))];
    expect(later[0]!.context?.ipContext?.srcIpAddrs).toEqual(['169.254.0.3/32']);
    await nsc.close(first);
    for (const id of ['nsc-3', 'nsc-4']) later.push(await nsc.request(request(id)));
    expect(later.map((c) => c.context?.ipContext?.dstIpAddrs[0])).toEqual(['169.254.0.2/32', '169.254.0.4/32', '169.254.0.6/32']);
    const wrapped = await nsc.request(request('nsc-5'));
    expect(wrapped.context?.ipContext?.dstIpAddrs).toEqual(['169.254.0.0/32']);
    for (const c of [...later, wrapped]) await nsc.close(c);
  });

  it('the nsmgr hands its excluded prefixes to the NSE IPAM, which skips them (the excluded_prefixes.yaml stream)', async () => {
    const excluded = new BehaviorSubject<string[]>(['169.254.0.0/30']);
    const sandbox = h.sandbox;
    const mesh = await Mesh.build(sandbox, { excludedPrefixes: excluded });
    await mesh.endpoint(0, 'final-endpoint', { additional: [point2pointIpam(['169.254.0.0/16'])] });
    const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    const conn = await nsc.request(request('nsc-1'));
    expect(conn.context?.ipContext?.excludedPrefixes).toContain('169.254.0.0/30');
    expect(conn.context?.ipContext?.dstIpAddrs).toEqual(['169.254.0.4/32']);
    expect(conn.context?.ipContext?.srcIpAddrs).toEqual(['169.254.0.5/32']);
    // Newly excluded addresses are moved away from on the next refresh.
    excluded.next(['169.254.0.0/29']);
    const refreshed = await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    expect(refreshed.context?.ipContext?.dstIpAddrs).toEqual(['169.254.0.8/32']);
    await nsc.close(refreshed);
  });
});

describe('chains/nsmgr: endpoints coming and going', () => {
  const h = useSandbox();

  it('Test_Remote_BusyEndpointsUsecase: 3 remote NSEs always fail, a 4th appears after 0.5 s; the client lands there (6 segments)', async () => {
    const sandbox = h.sandbox;
    const mesh = await Mesh.build(sandbox, { nodes: 2 });
    for (let i = 0; i < 3; i++) (await mesh.endpoint(1, `busy-${i}`)).errors.failRequests();
    const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { heal: false });
    setTimeout(() => void mesh.endpoint(1, 'final-endpoint'), 500);
    const conn = await nsc.request(request('nsc-1'));
    expect(names(conn)).toHaveLength(6);
    expect(conn.networkServiceEndpointName).toBe('final-endpoint');
    const refreshed = await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    await nsc.close(refreshed);
  });

  it('Test_Remote_ParallelUsecase: the remote NSE registers 100 ms after the Request started; 6 segments, 1 request, refresh 2, Close 1', async () => {
    const mesh = await Mesh.build(h.sandbox, { nodes: 2 });
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { heal: false });
    const late = new Promise<Awaited<ReturnType<typeof mesh.endpoint>>>((resolve) => setTimeout(() => resolve(mesh.endpoint(1, 'final-endpoint')), 100));
    const conn = await nsc.request(request('nsc-1'));
    const nse = await late;
    expect(names(conn)).toHaveLength(6);
    expect(nse.counter.requests).toBe(1);
    const refreshed = await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    expect(nse.counter.requests).toBe(2);
    await nsc.close(refreshed);
    expect(nse.counter.closes).toBe(1);
  });

  it('Test_ConnectToDeadNSEUsecase: after the NSE dies a refresh with a 1 s budget fails', async () => {
    const sandbox = h.sandbox;
    const mesh = await Mesh.build(sandbox);
    const nse = await mesh.endpoint(0, 'final-endpoint');
    const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { heal: false, retry: false });
    const conn = await nsc.request(request('nsc-1'));
    await nse.kill();
    // The 1 s budget bounds it: the refresh errors instead of hanging.
    await expect(nsc.request({ connection: conn, mechanismPreferences: [kernel] }, 1000)).rejects.toBeDefined();
    await nsc.close(conn).catch(() => undefined);
    await nse.start();
  });

  it('Test_SelectsRestartingEndpointUsecase: an NSE registered before it serves is reached once it starts (4 segments)', async () => {
    const sandbox = h.sandbox;
    const mesh = await Mesh.build(sandbox);
    const nse = await mesh.endpoint(0, 'final-endpoint');
    await nse.kill(); // registered (its entry lives on), not serving
    setTimeout(() => void nse.start(), 1000);
    const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { heal: false });
    const conn = await nsc.request(request('nsc-1'));
    expect(names(conn)).toHaveLength(4);
    await nsc.close(conn);
  });

  it('Test_ReselectEndpointWhenNetSvcHasChanged: the service gains a match only nse-2 satisfies; the client moves to nse-2 and its addresses (strict IPAM)', async () => {
    const mesh = await Mesh.build(h.sandbox);
    await mesh.endpoint(0, 'nse-1', { additional: [strictIpam(point2pointIpam(['100.100.100.100/30']), ['100.100.100.100/30'])] });
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    const conn = await nsc.request(request('nsc-1'));
    expect(conn.networkServiceEndpointName).toBe('nse-1');
    expect(conn.context?.ipContext?.srcIpAddrs).toEqual(['100.100.100.101/32']);

    const nse2 = await mesh.endpoint(0, 'nse-2', { labels: { experimental: 'true' }, additional: [strictIpam(point2pointIpam(['200.200.200.200/30']), ['200.200.200.200/30'])] });
    const registry = mesh.registryOf(0);
    await firstValueFrom(
      registry.ns.register(NetworkService.fromPartial({ name: 'ns', payload: 'ETHERNET', matches: [{ routes: [{ destinationSelector: { experimental: 'true' } }] }] }), Context.background.withDeadline(Date.now() + 5000)),
    );
    registry.dispose(); // the update is in; no need to keep it registered (heal) from here
    await expect.poll(() => nse2.counter.requests, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    const refreshed = await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    expect(refreshed.networkServiceEndpointName).toBe('nse-2');
    expect(refreshed.context?.ipContext?.srcIpAddrs).toEqual(['200.200.200.201/32']);
    expect(refreshed.context?.ipContext?.dstIpAddrs).toEqual(['200.200.200.200/32']);
    await nsc.close(refreshed);
  });

  for (const remote of [false, true]) {
    it(`${remote ? 'Test_RemoteUsecase_Point2MultiPoint' : 'Test_UsecasePoint2MultiPoint'}: match metadata p2mp=true picks the p2mp forwarder${remote ? 's' : ''}; with the metadata gone, after Close and Request, p2p ones`, async () => {
      const nodes = remote ? 2 : 1;
      const mesh = await Mesh.build(h.sandbox, { nodes, defaultForwarder: false });
      for (let i = 0; i < nodes; i++) {
        await mesh.addForwarder(i, { name: `p2mp-forwarder-${i}`, labels: { p2mp: 'true' } });
        await mesh.addForwarder(i, { name: `p2p-forwarder-${i}`, labels: { p2p: 'true' } });
        await mesh.addForwarder(i, { name: `special-forwarder-${i}`, labels: { special: 'true' } });
      }
      await mesh.endpoint(nodes - 1, 'my-nse-1', { services: ['my-ns'] });
      const registry = mesh.registryOf(0);
      const ctx = () => Context.background.withDeadline(Date.now() + 5000);
      const service = (labels: Record<string, string>) =>
        NetworkService.fromPartial({ name: 'my-ns', payload: 'ETHERNET', matches: [{ sourceSelector: {}, routes: [{ destinationSelector: {} }], metadata: { labels } }] });
      await firstValueFrom(registry.ns.register(service({ p2mp: 'true' }), ctx()));
      const forwarders = (c: Connection) => (remote ? [names(c)?.[2], names(c)?.[4]] : [names(c)?.[2]]);
      const expected = (kind: string) => Array.from({ length: nodes }, (_, i) => `${kind}-forwarder-${i}`);

      const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
      let conn = await nsc.request(request('nsc-1', 'my-ns'));
      expect(forwarders(conn)).toEqual(expected('p2mp'));

      await firstValueFrom(registry.ns.register(service({}), ctx()));
      registry.dispose();
      await nsc.close(conn);
      conn = await nsc.request(request('nsc-1', 'my-ns'));
      expect(forwarders(conn)).toEqual(expected('p2p'));
      await nsc.close(conn);
    });
  }

  it('Test_ShouldParseNetworkServiceLabelsTemplate: a destination selector {{.nodeName}} renders from the client info labels the nsmgr adds', async () => {
    const mesh = await Mesh.build(h.sandbox, { env: { NODE_NAME: 'testValue' } });
    await mesh.endpoint(0, 'final-endpoint', { labels: {} });
    const registry = mesh.registryOf(0);
    await firstValueFrom(
      registry.ns.register(
        NetworkService.fromPartial({ name: 'ns', payload: 'ETHERNET', matches: [{ routes: [{ destinationSelector: { nodeName: '{{.nodeName}}' } }] }] }),
        Context.background.withDeadline(Date.now() + 5000),
      ),
    );
    registry.dispose();
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    const conn = await nsc.request(request('nsc-1'));
    expect(conn.labels).toEqual({ nodeName: 'testValue' });
    expect(conn.networkServiceEndpointName).toBe('final-endpoint');
    // The NSE's registration passed the same nsmgr, which labelled it for its services too.
    const stored = mesh.registry.served?.registry.stores.nse.get('final-endpoint');
    expect(stored?.networkServiceLabels['ns']?.labels).toEqual({ nodeName: 'testValue' });
    await nsc.close(conn);
  });
});

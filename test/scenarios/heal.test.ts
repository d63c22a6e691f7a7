import { defer, lastValueFrom, of } from 'rxjs';
import { mergeMap, tap, toArray } from 'rxjs/operators';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { Context } from '../../operators/core/context.js';
import { ErrorInjector } from '../sandbox/injectError.js';
import type { NetworkServiceElement } from '../../operators/core/networkservice.js';
import { eventFactoryOf, type EventFactory } from '../../operators/networkservice/begin/eventFactory.js';
import { describe, expect, it } from 'vitest';
import { Counter } from '../sandbox/counter.js';
import { Mesh } from '../sandbox/mesh.js';
import { useSandbox } from '../sandbox/harness.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };
const request = (id: string) => ({ connection: { id, networkService: 'ns' }, mechanismPreferences: [kernel] });
const names = (c: { path?: { pathSegments: { name: string }[] } }) => c.path?.pathSegments.map((s) => s.name);

describe('chains/nsmgr heal_test (upstream scenarios)', () => {
  const h = useSandbox();

  for (const remote of [false, true]) {
    it(`TestNSMGR_HealEndpoint (${remote ? 'remote' : 'local'}): the NSE dies, nse-2 appears; the client reselects, its old connection refreshes and closes the new one`, async () => {
      const sandbox = h.sandbox;
      const mesh = await Mesh.build(sandbox, { nodes: remote ? 2 : 1 });
      const at = remote ? 1 : 0;
      const nse = await mesh.endpoint(at, 'final-endpoint');
      const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
      const conn = await nsc.request(request('nsc-1'));
      expect(names(conn)).toHaveLength(remote ? 6 : 4);

      await nse.kill();
      const nse2 = await mesh.endpoint(at, 'nse-2');
      await expect.poll(() => nse2.counter.requests, { timeout: 10_000 }).toBe(1);

      // The client keeps using the connection it had: a refresh goes to nse-2, Close too.
      const refreshed = await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
      expect(refreshed.networkServiceEndpointName).toBe('nse-2');
      expect(names(refreshed)?.at(-1)).toBe('nse-2');
      expect(nse2.counter.uniqueRequests).toBe(1);
      await nsc.close(conn);
      expect(nse2.counter.closes).toBe(1);
      await nse.start(); // back for the leak check's symmetry: it holds nothing
    });
  }

  for (const remote of [false, true]) {
    it(`TestNSMGR_HealForwarder (${remote ? 'remote' : 'local'}): the ${remote ? "NSE node's" : "client node's"} forwarder dies, another one appears; the client heals through it`, async () => {
      const mesh = await Mesh.build(h.sandbox, { nodes: remote ? 2 : 1 });
      const at = remote ? 1 : 0;
      const nse = await mesh.endpoint(at, 'final-endpoint');
      const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
      const conn = await nsc.request(request('nsc-1'));
      expect(names(conn)).toContain(`forwarder-${at}-0`);

      await mesh.nodes[at]!.forwarders[0]!.kill();
      const second = await mesh.addForwarder(at);
      await expect.poll(() => second.counter.requests, { timeout: 10_000 }).toBe(1);
      expect(nse.counter.uniqueRequests).toBe(1); // the same NSE, the same connection id at the NSE
      const refreshed = await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
      expect(names(refreshed)).toContain(`forwarder-${at}-1`);
      expect(names(refreshed)).not.toContain(`forwarder-${at}-0`);
      await nsc.close(refreshed);
      expect(nse.counter.closes).toBeGreaterThanOrEqual(1);
    });
  }

  it('TestNSMGR_HealNSMgr (local): the nsmgr restarts; the client heals to the same NSE', async () => {
    const mesh = await Mesh.build(h.sandbox);
    const nse = await mesh.endpoint(0, 'final-endpoint');
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    const conn = await nsc.request(request('nsc-1'));
    expect(nse.counter.requests).toBe(1);

    await mesh.nodes[0]!.nsmgr.restart(); // state lost, same URL; forwarder and NSE re-register by healing
    await expect.poll(() => nse.counter.requests, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    const refreshed = await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    expect(refreshed.networkServiceEndpointName).toBe('final-endpoint');
    expect(names(refreshed)).toEqual(['nsc', 'nsmgr-0', 'forwarder-0-0', 'final-endpoint']);
    await nsc.close(refreshed);
    expect(nse.counter.closes).toBeGreaterThanOrEqual(1);
  });

  it('TestReselect_Close_RegistryDied: with the registry gone, Close still reaches the forwarder and the NSE once', async () => {
    const mesh = await Mesh.build(h.sandbox);
    const nse = await mesh.endpoint(0, 'final-endpoint');
    const forwarder = mesh.nodes[0]!.forwarders[0]!;
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { heal: false, retry: false });
    const conn = await nsc.request(request('nsc-1'));
    await mesh.registry.kill();
    await nsc.close(conn);
    expect(forwarder.counter.closes).toBe(1);
    expect(nse.counter.closes).toBe(1);
    await mesh.registry.start();
  });

  it('TestNSMGR_CloseHeal: the NSE dies and the client, healing, is closed; nothing is left running anywhere', async () => {
    const mesh = await Mesh.build(h.sandbox);
    const nse = await mesh.endpoint(0, 'final-endpoint');
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { retry: false });
    const conn = await nsc.request(request('nsc-1'));
    await nse.kill(); // the client starts healing: there is no other NSE to reselect
    await new Promise((r) => setTimeout(r, 300));
    await nsc.close(conn).catch(() => undefined); // the leak check after the test is the assertion
    await nse.start();
  });

  it('TestNSMGR_CloseHeal (with NSE expiration): the NSE dies and its registration expires (Find is then empty); the healing client is closed; nothing is left running', async () => {
    // Registrations expire after 3 s, each Register with a 0.5 s budget: the live ones refresh in time.
    const mesh = await Mesh.build(h.sandbox, { expirePeriod: 3000, registrationBudget: 500 });
    const nse = await mesh.endpoint(0, 'final-endpoint');
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { retry: false });
    const conn = await nsc.request(request('nsc-1'));
    const registry = mesh.registryOf(0);
    const find = () =>
      lastValueFrom(registry.nse.find({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name: 'final-endpoint' }), watch: false }, Context.background.withDeadline(Date.now() + 500)).pipe(toArray()));
    expect(await find()).toHaveLength(1);
    await nse.kill();
    await expect.poll(async () => (await find()).length, { timeout: 10_000, interval: 200 }).toBe(0);
    registry.dispose();
    await nsc.close(conn).catch(() => undefined); // the leak check after the test is the assertion
    await nse.start();
  });

  it('TestNSMGRHealEndpoint_DataPlaneBroken_CtrlPlaneBroken: liveness always false, the NSE dies, nse-2 appears; the client reselects to it; refresh and Close with the old connection work', async () => {
    const mesh = await Mesh.build(h.sandbox);
    const counter = new Counter();
    const nse = await mesh.endpoint(0, 'final-endpoint', { additional: [counter.element] });
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { livenessCheck: () => of(false) });
    const conn = await nsc.request(request('nsc-1'));
    expect(counter.uniqueRequests).toBe(1);
    await nse.kill();
    await mesh.endpoint(0, 'nse-2', { additional: [counter.element] });
    await expect.poll(() => counter.uniqueRequests, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(counter.uniqueRequests).toBe(2);
    await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    const closes = counter.uniqueCloses;
    await nsc.close(conn);
    expect(counter.uniqueRequests).toBe(2);
    expect(counter.uniqueCloses).toBeGreaterThanOrEqual(closes + 1);
    await nse.start();
  });

  it('TestNSMGRHealEndpoint_DataPlaneBroken_CtrlPlaneHealthy: the NSE lives but liveness says dead; nse-2 appears and the client reselects to it', async () => {
    const mesh = await Mesh.build(h.sandbox);
    const counter = new Counter();
    await mesh.endpoint(0, 'final-endpoint', { additional: [counter.element] });
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { livenessCheck: () => of(false) });
    const conn = await nsc.request(request('nsc-1'));
    expect(counter.requests).toBe(1);
    await mesh.endpoint(0, 'nse-2', { additional: [counter.element] });
    await expect.poll(() => counter.uniqueRequests, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    const closes = counter.uniqueCloses;
    await nsc.close(conn);
    expect(counter.uniqueCloses).toBeGreaterThanOrEqual(closes + 1);
  });

  it('TestNSMGRHealEndpoint_DatapathHealthy_CtrlPlaneBroken (skipped upstream, #1573; passes here): liveness says alive, the NSE dies, nse-2 appears; the client must not switch to nse-2', async () => {
    const mesh = await Mesh.build(h.sandbox);
    const counter = new Counter();
    const nse = await mesh.endpoint(0, 'final-endpoint', { additional: [counter.element] });
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { livenessCheck: () => of(true) });
    const conn = await nsc.request(request('nsc-1'));
    await nse.kill();
    await mesh.endpoint(0, 'nse-2', { additional: [counter.element] });
    await new Promise((r) => setTimeout(r, 2000)); // upstream: require.Never within 2 s
    expect(counter.uniqueRequests).toBe(1);
    h.expectLeftovers(); // the client keeps healing toward its dead NSE until it is closed
    await nsc.close(conn).catch(() => undefined);
    await nse.start();
  });

  it('TestNSMGR_HealNSMgr (remote): the NSE node’s nsmgr dies, nse-2 on a third node; the client reselects to it; refresh and Close with the old connection work', async () => {
    const mesh = await Mesh.build(h.sandbox, { nodes: 3 });
    const counter = new Counter();
    await mesh.endpoint(1, 'final-endpoint', { additional: [counter.element] });
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    const conn = await nsc.request(request('nsc-1'));
    await mesh.endpoint(2, 'nse-2', { additional: [counter.element] });
    await mesh.nodes[1]!.nsmgr.kill();
    await expect.poll(() => counter.uniqueRequests, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(counter.uniqueRequests).toBe(2);
    const closes = counter.uniqueCloses;
    await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    await nsc.close(conn);
    expect(counter.uniqueRequests).toBe(2);
    expect(counter.uniqueCloses).toBe(closes + 1);
    // The forwarder and NSE below the dead nsmgr keep the old connection until its token expires
    // (their `timeout` closes it then), as upstream's do: no Close can reach them meanwhile.
    h.expectLeftovers();
    await mesh.nodes[1]!.nsmgr.start();
  });

  it('TestNSMGR_HealRegistry: the registry restarts; a refresh works, a new client gets through, the NSE sees at least 3 requests', async () => {
    const mesh = await Mesh.build(h.sandbox);
    const nse = await mesh.endpoint(0, 'final-endpoint');
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    const conn = await nsc.request(request('nsc-1'));
    await mesh.registry.restart();
    const refreshed = await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    const other = h.sandbox.client('nsc-2', mesh.nodes[0]!.nsmgr.url);
    const second = await other.request(request('nsc-2'));
    await expect.poll(() => nse.counter.requests, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    await nsc.close(refreshed);
    await other.close(second);
  });

  it('TestNSMGRHealEndpoint_CustomReselectFunc: a custom reselect labels the reselected request; after the NSE dies and nse-2 appears, the connection carries the label', async () => {
    const mesh = await Mesh.build(h.sandbox);
    const nse = await mesh.endpoint(0, 'final-endpoint');
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, {
      reselect: (r) => {
        const conn = r.connection;
        if (conn === undefined) return;
        conn.labels = { key: 'value' };
        conn.networkServiceEndpointName = '';
      },
    });
    const conn = await nsc.request(request('nsc-1'));
    await nse.kill();
    await mesh.endpoint(0, 'nse-2');
    await expect
      .poll(async () => (await nsc.request({ connection: conn, mechanismPreferences: [kernel] }).catch(() => undefined))?.labels['key'], { timeout: 10_000 })
      .toBe('value');
    await nsc.close(conn);
    await nse.start();
  });

  it('Test_RestartDuringRefresh: 15 times the forwarder is killed and restarted while a refresh is at the NSE; that refresh fails, heal brings the connection back', async () => {
    const mesh = await Mesh.build(h.sandbox);
    let destroyForwarder = false;
    const forwarder = mesh.nodes[0]!.forwarders[0]!;
    // At the NSE, during the refresh: the forwarder dies (and comes back at once, fresh).
    const killer: NetworkServiceElement = {
      request: (r, ctx, next) =>
        defer(async () => {
          if (destroyForwarder) await forwarder.restart();
        }).pipe(mergeMap(() => next.request(r, ctx))),
    };
    const nse = await mesh.endpoint(0, 'nse-1', { additional: [killer] });
    const answered = new Counter(); // Requests answered back at the client
    let factory: EventFactory | undefined;
    const grab: NetworkServiceElement = {
      request: (r, ctx, next) => {
        factory ??= eventFactoryOf(ctx);
        return next.request(r, ctx);
      },
    };
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { additional: [answered.element, grab] });
    const conn = await nsc.request(request('nsc-1'));
    await lastValueFrom((factory as EventFactory).request(), { defaultValue: undefined });
    expect(nse.counter.requests).toBe(2);
    for (let i = 0; i < 15; i++) {
      destroyForwarder = true;
      await expect(lastValueFrom((factory as EventFactory).request(), { defaultValue: undefined })).rejects.toBeDefined();
      const before = answered.requests;
      destroyForwarder = false;
      await expect.poll(() => answered.requests, { timeout: 5000, interval: 50 }).toBeGreaterThan(before);
    }
    await nsc.close(conn);
  });

  it('TestNSMGR_RefreshFailed_DataPlaneBroken: the NSE takes one Request only; the client’s refresh (at 20% of a 5 s token instead of upstream’s mock clock) fails, the datapath is then found broken and the client reselects: nse-2 gets exactly 1 Request', async () => {
    const sandbox = await h.recreate({ tokenLifetime: 5000 });
    const mesh = await Mesh.build(sandbox);
    const attempts = new Counter({ attempts: true });
    const once = new ErrorInjector().failRequests(1, -1);
    await mesh.endpoint(0, 'final-endpoint', { additional: [attempts.element, once.element] });
    let healthy = true;
    const counter2 = new Counter();
    const healthyAgain: NetworkServiceElement = { request: (r, ctx, next) => next.request(r, ctx).pipe(tap(() => (healthy = true))) };
    const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { livenessCheck: () => of(healthy) });
    const conn = await nsc.request(request('nsc-1'), 2000); // a budget under the 5 s token, or every hop times out at once
    expect(attempts.requests).toBe(1);
    await mesh.endpoint(0, 'nse-2', { additional: [healthyAgain, counter2.element] });
    await expect.poll(() => attempts.requests, { timeout: 5000, interval: 20 }).toBeGreaterThanOrEqual(2); // the refresh reached the NSE (and failed)
    healthy = false;
    await expect.poll(() => counter2.requests, { timeout: 5000, interval: 20 }).toBeGreaterThanOrEqual(1);
    expect(counter2.uniqueRequests).toBe(1);
    expect(counter2.requests).toBe(1);
    await nsc.close(conn);
  });

  it('TestNSMGR_RefreshFailed_ControlPlaneBroken: the forwarder dies while the client’s refresh is held inside its chain; the refresh fails, a new forwarder appears, heal brings the connection back (the NSE sees 2 Requests)', async () => {
    const sandbox = await h.recreate({ tokenLifetime: 5000 });
    const mesh = await Mesh.build(sandbox);
    const nse = await mesh.endpoint(0, 'final-endpoint');
    let held: (() => void) | undefined;
    let holding = true;
    let seen = 0;
    // Upstream's checkrequest gate: the first Request passes, the next one waits to be let go.
    const gate: NetworkServiceElement = {
      request: (r, ctx, next) =>
        defer(() => (seen++ === 0 || !holding ? Promise.resolve() : new Promise<void>((resolve) => (held = resolve)))).pipe(mergeMap(() => next.request(r, ctx))),
    };
    const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { additional: [gate] });
    const conn = await nsc.request(request('nsc-1'), 2000); // a budget under the 5 s token, or every hop times out at once
    expect(nse.counter.requests).toBe(1);
    await expect.poll(() => held !== undefined, { timeout: 5000, interval: 20 }).toBe(true); // the refresh is in
    await mesh.nodes[0]!.forwarders[0]!.kill();
    holding = false;
    held?.();
    await mesh.addForwarder(0);
    await expect.poll(() => nse.counter.requests, { timeout: 10_000 }).toBe(2);
    await nsc.close(conn);
    expect(nse.counter.requests).toBe(2);
  });
});

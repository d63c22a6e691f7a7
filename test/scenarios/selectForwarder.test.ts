import { of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../proto/gen/connection.js';
import { useSandbox } from '../sandbox/harness.js';
import { ErrorInjector } from '../sandbox/injectError.js';
import { Mesh } from '../sandbox/mesh.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };
const request = (id: string) => ({ connection: { id, networkService: 'ns' }, mechanismPreferences: [kernel] });
const forwarderOf = (c: Connection, at = 2) => c.path?.pathSegments[at]?.name ?? '';

/** One node with `n` forwarders (and no default one). */
async function meshWithForwarders(h: ReturnType<typeof useSandbox>, n: number): Promise<Mesh> {
  const mesh = await Mesh.build(h.sandbox, { defaultForwarder: false });
  for (let i = 0; i < n; i++) await mesh.addForwarder(0);
  return mesh;
}

describe('chains/nsmgr select_forwarder_test (upstream scenarios)', () => {
  const h = useSandbox();

  it('Test_DiscoverForwarder_CloseAfterError: the NSE takes one Request, then refuses all; a failed refresh makes the client heal, whose Close reaches the NSE once; the explicit Close adds none', async () => {
    const mesh = await Mesh.build(h.sandbox);
    const nse = await mesh.endpoint(0, 'final-endpoint');
    nse.errors.failRequests(1, -1);
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    const conn = await nsc.request(request('nsc-1'));
    expect(nse.counter.requests).toBe(1);
    await expect(nsc.request({ connection: conn, mechanismPreferences: [kernel] }, 1000)).rejects.toBeDefined();
    await expect.poll(() => nse.counter.closes, { timeout: 10_000 }).toBe(1);
    await nsc.close(conn);
    expect(nse.counter.closes).toBe(1);
  });

  it('Test_DiscoverForwarder_ChangeForwarderOnDeath_LostHeal: the client’s Closes always fail; its forwarder dies; heal goes through another one to the same NSE connection (2 requests, 1 close); a refresh keeps the new forwarder', async () => {
    const mesh = await meshWithForwarders(h, 10);
    const nse = await mesh.endpoint(0, 'final-endpoint');
    const closesFail = new ErrorInjector().failCloses(-1);
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { additional: [closesFail.element] });
    let conn = await nsc.request(request('nsc-1'));
    expect(nse.counter.uniqueRequests).toBe(1);
    const selected = forwarderOf(conn);
    await mesh.nodes[0]!.forwarders.find((f) => f.name === selected)!.kill();
    await expect.poll(() => nse.counter.requests, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(nse.counter.uniqueRequests).toBe(1);
    expect(nse.counter.requests).toBe(2);
    expect(nse.counter.closes).toBe(1);
    conn = await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    expect(nse.counter.uniqueRequests).toBe(1);
    expect(nse.counter.requests).toBe(3);
    expect(nse.counter.closes).toBe(1);
    expect(forwarderOf(conn)).not.toBe(selected);
    closesFail.clear();
    await nsc.close(conn);
  });

  it('Test_DiscoverForwarder_Should_KeepSelectedForwarderWhileConnectionIsFine: the forwarder restarts with the datapath fine → same forwarder, no Close; the datapath breaks and the forwarder dies → another forwarder', async () => {
    const mesh = await meshWithForwarders(h, 10);
    const nse = await mesh.endpoint(0, 'final-endpoint');
    let datapathFine = true;
    let selected = '';
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { livenessCheck: (c) => of(datapathFine || forwarderOf(c) !== selected) });
    let conn = await nsc.request(request('nsc-1'));
    expect(nse.counter.requests).toBe(1);
    selected = forwarderOf(conn);
    await mesh.registry.restart();
    const forwarder = mesh.nodes[0]!.forwarders.find((f) => f.name === selected)!;
    await forwarder.restart();
    await expect.poll(() => nse.counter.requests, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(nse.counter.uniqueRequests).toBe(1);
    expect(nse.counter.closes).toBe(0);
    conn = await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    expect(nse.counter.requests).toBe(3);
    expect(nse.counter.closes).toBe(0);
    expect(forwarderOf(conn)).toBe(selected);

    datapathFine = false;
    await forwarder.kill();
    await expect.poll(() => nse.counter.requests, { timeout: 10_000 }).toBeGreaterThanOrEqual(4);
    conn = await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    expect(nse.counter.uniqueRequests).toBe(1);
    expect(nse.counter.closes).toBeGreaterThan(0);
    expect(forwarderOf(conn)).not.toBe(selected);
    await nsc.close(conn);
    await forwarder.start();
  });
});

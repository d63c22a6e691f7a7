import { firstValueFrom, NEVER, type Observable } from 'rxjs';
import { filter, finalize } from 'rxjs/operators';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MonitorConnectionService, State, type Connection, type ConnectionEvent } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../../operators/core/context.js';
import type { NetworkServiceElement } from '../../operators/core/networkservice.js';
import { serverStreamCall } from '../../streams/grpc/call.js';
import { Sandbox, type SandboxNode } from './sandbox.js';
import { leakedResources, resourceCounts, type ResourceCounts } from './leaks.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: {} };
const request = (id: string) => ({ connection: { id, networkService: 'ns' }, mechanismPreferences: [kernel] });

describe('sandbox scenarios', () => {
  let sandbox: Sandbox;
  let before: ResourceCounts;
  let checkLeaks = true;

  const start = async (options: Parameters<typeof Sandbox.create>[0] = {}) => {
    sandbox = await Sandbox.create(options);
    return sandbox;
  };

  beforeEach(() => {
    before = resourceCounts();
    checkLeaks = true;
  });

  afterEach(async () => {
    if (checkLeaks) expect(sandbox.leftovers()).toEqual([]);
    await sandbox.cleanup();
    expect(await leakedResources(before)).toEqual([]);
  });

  async function mesh(nseExtra: NetworkServiceElement[] = []) {
    const nse = await sandbox.endpoint('nse', nseExtra);
    const forwarder = await sandbox.passthrough('forwarder', nse.url);
    const nsmgr = await sandbox.passthrough('nsmgr', forwarder.url);
    return { nse, forwarder, nsmgr };
  }

  /** Events about the nsc's connection as the nsmgr publishes them (what the nsc's heal watches). */
  function watch(nsmgr: SandboxNode, conn: Connection): Observable<ConnectionEvent> {
    const channel = sandbox.pool.acquire(nsmgr.url);
    const own = conn.path?.pathSegments[0];
    return serverStreamCall(
      channel,
      MonitorConnectionService.monitorConnections,
      { pathSegments: [{ name: own?.name ?? '', id: own?.id ?? '', token: '', expires: undefined, metrics: {} }], networkServices: [] },
      Context.background,
    ).pipe(finalize(() => channel.release()));
  }

  it('cancelling a Request at the client cancels it at every hop down to the NSE', async () => {
    await start();
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    let cancelledAtNse!: () => void;
    const cancelled = new Promise<void>((r) => (cancelledAtNse = r));
    const hang: NetworkServiceElement = {
      request: () => {
        started();
        return NEVER.pipe(finalize(cancelledAtNse));
      },
    };
    const { nsmgr } = await mesh([hang]);
    const nsc = sandbox.client('nsc', nsmgr.url, { retry: false });
    const sub = nsc.handler.request(NetworkServiceRequest.fromPartial(request('c1') as NetworkServiceRequest), Context.background).subscribe({ error: () => undefined });
    await running;
    sub.unsubscribe();
    await cancelled;
  });

  it('an NSE that dies is reported DOWN hop by hop up to the nsmgr the client watches', async () => {
    await start();
    const { nse, nsmgr } = await mesh();
    const nsc = sandbox.client('nsc', nsmgr.url);
    const conn = await nsc.request(request('c1'));
    const down = firstValueFrom(
      watch(nsmgr, conn).pipe(filter((e) => Object.values(e.connections).some((c) => c.state === State.DOWN))),
    );
    await new Promise((r) => setTimeout(r, 50));
    await nse.kill();
    const event = await down;
    const seen = Object.values(event.connections)[0];
    expect(seen?.path?.pathSegments.map((s) => s.name)).toEqual(['nsc', 'nsmgr', 'forwarder', 'nse']);
    await nse.start();
    await nsc.close(conn);
  });

  it('a killed hop loses its state; restarted on the same URL it serves again', async () => {
    await start();
    const { nse, nsmgr } = await mesh();
    const nsc = sandbox.client('nsc', nsmgr.url, { retry: false });
    const first = await nsc.request(request('c1'));
    await nse.kill();
    expect(nse.endpoint).toBeUndefined();
    await expect(nsc.request(request('c2'))).rejects.toMatchObject({ code: 14 });
    await nse.restart();
    const second = await nsc.request(request('c2'));
    expect(second.path?.pathSegments).toHaveLength(4);
    expect(nse.counter.uniqueRequests).toBe(2);
    await nsc.close(second);
    await nsc.close(first);
  });

  it('injected errors fail exactly the chosen calls; the retrying client gets through', async () => {
    await start();
    const { nse, nsmgr } = await mesh();
    nse.errors.failRequests(0, 1);
    const nsc = sandbox.client('nsc', nsmgr.url);
    const conn = await nsc.request(request('c1'));
    expect(nse.counter.requests).toBe(1);
    await nsc.close(conn);
  });

  it('the client refreshes at 20% of the token lifetime through every hop', async () => {
    await start({ tokenLifetime: 1000 });
    const { nse, nsmgr } = await mesh();
    const nsc = sandbox.client('nsc', nsmgr.url);
    // The request budget must be shorter than the token lifetime, or every hop times out at once.
    const conn = await nsc.request(request('c1'), 500);
    await expect.poll(() => nse.counter.requests, { timeout: 2000, interval: 20 }).toBeGreaterThanOrEqual(3);
    expect(nse.counter.uniqueRequests).toBe(1);
    expect(nse.counter.closes).toBe(0);
    await nsc.close(conn);
  });

  it('without refresh every hop times the connection out and closes it downstream (Test_Timeout shape)', async () => {
    await start({ tokenLifetime: 600 });
    const { nse, forwarder, nsmgr } = await mesh();
    const nsc = sandbox.client('nsc', nsmgr.url, { refresh: false, retry: false, heal: false });
    await nsc.request(request('c1'), 300);
    const closes = () => [nsmgr, forwarder, nse].map((h) => h.counter.closes);
    await expect.poll(closes, { timeout: 3000, interval: 20 }).toEqual([1, 1, 1]);
    // Every hop let go; only the client, which never closed, still holds its side.
    checkLeaks = false;
    expect(sandbox.leftovers()).toEqual(['client: begin holds 1', 'client: metadata holds 1', 'channel pool: 1 channel(s) still borrowed']);
  });

  it('the leak check notices a connection that was never closed', async () => {
    await start();
    const { nsmgr } = await mesh();
    const nsc = sandbox.client('nsc', nsmgr.url);
    const conn = await nsc.request(request('c1'));
    expect(sandbox.leftovers().length).toBeGreaterThan(0);
    await nsc.close(conn);
    expect(sandbox.leftovers()).toEqual([]);
  });
});

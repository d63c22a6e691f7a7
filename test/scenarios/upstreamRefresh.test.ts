import { defer, firstValueFrom, Subject } from 'rxjs';
import { concatMap, map, take, tap } from 'rxjs/operators';
import { describe, expect, it } from 'vitest';
import { ConnectionEventType, State, type Connection } from '../../proto/gen/connection.js';
import { cloneConnection } from '../../operators/core/clone.js';
import type { NetworkServiceElement } from '../../operators/core/networkservice.js';
import { upstreamRefresh } from '../../operators/networkservice/upstreamRefresh.js';
import type { ConnectionMonitor } from '../../streams/monitorConnections.js';
import { Counter } from '../sandbox/counter.js';
import { useSandbox } from '../sandbox/harness.js';
import { Mesh } from '../sandbox/mesh.js';

const DEFAULT_MTU = 9000;
const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };
const request = (id: string, mtu: number, nse = '') => ({ connection: { id, networkService: 'my-service', networkServiceEndpointName: nse, context: { MTU: mtu } }, mechanismPreferences: [kernel] });

/**
 * Upstream's refreshMTUSenderServer: when a connection arrives with another MTU than the
 * others, the NSE asks (REFRESH_REQUESTED on its monitor) every connection it already has to
 * refresh.
 */
function refreshMtuSender(monitor: () => ConnectionMonitor | undefined): NetworkServiceElement {
  const known = new Map<string, Connection>();
  return {
    request: (req, ctx, next) =>
      next.request(req, ctx).pipe(
        tap((conn) => {
          if ((conn.context?.MTU ?? 0) !== DEFAULT_MTU && !known.has(conn.id)) {
            const connections = Object.fromEntries([...known].map(([id, c]) => [id, { ...cloneConnection(c), state: State.REFRESH_REQUESTED }]));
            monitor()?.send({ type: ConnectionEventType.UPDATE, connections });
          }
          known.set(conn.id, cloneConnection(conn));
        }),
      ),
    close: (conn, ctx, next) => defer(() => (known.delete(conn.id), next.close(conn, ctx))),
  };
}

describe('chains/nsmgr upstreamrefresh_test (upstream scenarios)', () => {
  const h = useSandbox();

  it('Test_UpstreamRefreshClient: a second client’s MTU change makes the NSE ask the first client to refresh; it does', async () => {
    const mesh = await Mesh.build(h.sandbox);
    const counter = new Counter();
    const nse = await mesh.endpoint(0, 'final-endpoint', { services: ['my-service'], additional: [refreshMtuSender(() => nse.endpoint?.monitor), counter.element] });
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { additional: [upstreamRefresh({})] });
    const conn = await nsc.request(request('c-1', DEFAULT_MTU));
    expect(counter.uniqueRequests).toBe(1);
    const nsc2 = h.sandbox.client('nsc-2', mesh.nodes[0]!.nsmgr.url, { additional: [upstreamRefresh({})] });
    const conn2 = await nsc2.request(request('c-2', 1000));
    expect(counter.uniqueRequests).toBe(2);
    await expect.poll(() => counter.requests, { timeout: 5000 }).toBe(3);
    await nsc.close(conn);
    await nsc2.close(conn2);
  });

  it('Test_UpstreamRefreshClient_LocalNotifications: NSE1 asks for a refresh; with local notifications the client refreshes its connection to NSE2 too', async () => {
    const mesh = await Mesh.build(h.sandbox);
    const [c1, c2] = [new Counter(), new Counter()];
    const nse1 = await mesh.endpoint(0, 'final-endpoint1', { services: ['my-service'], additional: [refreshMtuSender(() => nse1.endpoint?.monitor), c1.element] });
    const nse2 = await mesh.endpoint(0, 'final-endpoint2', { services: ['my-service'], additional: [refreshMtuSender(() => nse2.endpoint?.monitor), c2.element] });
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { additional: [upstreamRefresh({ localNotifications: true })] });
    const conn = await nsc.request(request('1', DEFAULT_MTU, 'final-endpoint1'));
    expect(c1.uniqueRequests).toBe(1);
    const conn2 = await nsc.request(request('2', DEFAULT_MTU, 'final-endpoint2'));
    expect(c2.uniqueRequests).toBe(1);
    const conn3 = await nsc.request(request('3', 1000, 'final-endpoint1'));
    expect(c1.uniqueRequests).toBe(2);
    await expect.poll(() => c2.requests, { timeout: 5000 }).toBe(2);
    expect(c2.uniqueRequests).toBe(1);
    for (const c of [conn, conn2, conn3]) await nsc.close(c);
  });

  it('Test_UpstreamRefreshClientDelay: the REFRESH_REQUESTED arrives while the client is still handling the answer; it is not lost', async () => {
    const mesh = await Mesh.build(h.sandbox);
    const counter = new Counter();
    // The NSE sends its event only once the client is inside its slow handling (upstream's channels).
    const clientHandling = new Subject<void>();
    const eventSent = new Subject<void>();
    let sent = false;
    const sender: NetworkServiceElement = {
      request: (req, ctx, next) =>
        next.request(req, ctx).pipe(
          tap((conn) => {
            if (sent) return;
            sent = true;
            // A copy now: the hops above rewrite the answer's id and path on its way back.
            const asked = { ...cloneConnection(conn), state: State.REFRESH_REQUESTED };
            clientHandling.pipe(take(1)).subscribe(() => {
              nse.endpoint?.monitor.send({ type: ConnectionEventType.UPDATE, connections: { [asked.id]: asked } });
              setTimeout(() => eventSent.next(), 100);
            });
          }),
        ),
    };
    let slowed = false;
    const slowHandler: NetworkServiceElement = {
      request: (req, ctx, next) =>
        next.request(req, ctx).pipe(
          concatMap((conn) => {
            if (slowed) return [conn];
            slowed = true;
            const done = firstValueFrom(eventSent);
            clientHandling.next();
            return defer(() => done).pipe(map(() => conn));
          }),
        ),
    };
    const nse = await mesh.endpoint(0, 'final-endpoint', { services: ['my-service'], additional: [sender, counter.element] });
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { additional: [upstreamRefresh({}), slowHandler] });
    const conn = await nsc.request(request('c-1', DEFAULT_MTU));
    expect(counter.uniqueRequests).toBe(1);
    await expect.poll(() => counter.requests, { timeout: 5000 }).toBe(2);
    await nsc.close(conn);
  });
});

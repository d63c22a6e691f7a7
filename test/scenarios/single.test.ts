import { defer, firstValueFrom, from, throwError } from 'rxjs';
import { mergeMap } from 'rxjs/operators';
import { describe, expect, it } from 'vitest';
import { NetworkService } from '../../proto/gen/registry.js';
import { Context } from '../../operators/core/context.js';
import { unavailable } from '../../operators/core/errors.js';
import type { NetworkServiceElement } from '../../operators/core/networkservice.js';
import { excludedPrefixesClient } from '../../operators/networkservice/excludedPrefixes.js';
import { point2pointIpam } from '../../operators/networkservice/point2pointIpam.js';
import { useSandbox } from '../sandbox/harness.js';
import { Mesh } from '../sandbox/mesh.js';
import { ErrorInjector } from '../sandbox/injectError.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };
const names = (c: { path?: { pathSegments: { name: string }[] } }) => c.path?.pathSegments.map((s) => s.name);
const budget = () => Context.background.withDeadline(Date.now() + 5000);

describe('chains/nsmgr: single scenarios', () => {
  const h = useSandbox();

  it('Test_Local_NoURLUsecase: nsmgr, forwarder and NSE all on unix sockets; 4 segments, 1 request, refresh 2, Close 1', async () => {
    const mesh = await Mesh.build(h.sandbox, { unixSockets: true });
    expect(mesh.nodes[0]!.nsmgr.url.scheme).toBe('unix');
    const nse = await mesh.endpoint(0, 'final-endpoint');
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    const conn = await nsc.request({ connection: { id: 'nsc-1', networkService: 'ns' }, mechanismPreferences: [kernel] });
    expect(nse.counter.requests).toBe(1);
    expect(names(conn)).toHaveLength(4);
    const refreshed = await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    expect(nse.counter.requests).toBe(2);
    await nsc.close(refreshed);
    expect(nse.counter.closes).toBe(1);
  });

  it('TestCreateEndpointDuringRequest: the only match at first is a "maker" NSE that starts the real one and fails; the retrying client lands on the real one; refresh and a new request too', async () => {
    const mesh = await Mesh.build(h.sandbox, { nodes: 2 });
    const registry = mesh.registryOf(0);
    await firstValueFrom(
      registry.ns.register(
        NetworkService.fromPartial({
          name: 'ns-1',
          payload: 'ETHERNET',
          matches: [{ sourceSelector: {}, routes: [{ destinationSelector: { nodeName: 'node[1]' } }, { destinationSelector: { 'create-nse': 'true' } }] }],
        }),
        budget(),
      ),
    );
    let made: Awaited<ReturnType<typeof mesh.endpoint>> | undefined;
    const maker: NetworkServiceElement = {
      request: () =>
        defer(() => {
          if (made !== undefined) return throwError(() => unavailable("can't create new endpoint"));
          const starting = mesh.endpoint(1, 'nse-impl', { services: ['ns-1'], labels: { nodeName: 'node[1]' }, registerServices: false });
          return from(starting).pipe(
            mergeMap((node) => {
              made = node;
              return throwError(() => unavailable("can't provide requested network service"));
            }),
          );
        }),
    };
    await mesh.endpoint(0, 'nse-maker', { services: ['ns-1'], labels: { 'create-nse': 'true' }, additional: [maker], registerServices: false });
    const nsc = h.sandbox.client('nsc', mesh.nodes[1]!.nsmgr.url);

    const conn = await nsc.request({ connection: { id: 'nsc-1', networkService: 'ns-1' }, mechanismPreferences: [kernel] });
    expect(made).toBeDefined();
    expect(made?.counter.requests).toBe(1);
    expect(conn.networkServiceEndpointName).toBe('nse-impl');
    const refreshed = await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    expect(made?.counter.requests).toBe(2);
    const second = await nsc.request({ connection: { id: 'nsc-2', networkService: 'ns-1' }, mechanismPreferences: [kernel] });
    expect(made?.counter.requests).toBe(3);
    await nsc.close(refreshed);
    await nsc.close(second);
    registry.dispose();
  });

  it('Test_AwareNSEs: three NSEs with their own IPAM on one /29 (my-ns-1 red, my-ns-2 red, my-ns-1 friday); with the awareness group {my-ns-1?color=red, my-ns-2?color=red} connections 1 and 2 share the client address, 3 gets another', async () => {
    const mesh = await Mesh.build(h.sandbox);
    const info = [
      { ns: 'my-ns-1', key: 'color', value: 'red' },
      { ns: 'my-ns-2', key: 'color', value: 'red' },
      { ns: 'my-ns-1', key: 'day', value: 'friday' },
    ];
    const registry = mesh.registryOf(0);
    for (const ns of ['my-ns-1', 'my-ns-2']) {
      const matches = info.filter((i) => i.ns === ns).map((i) => ({ sourceSelector: { [i.key]: i.value }, routes: [{ destinationSelector: { [i.key]: i.value }, weight: 0 }], fallthrough: false, metadata: undefined }));
      await firstValueFrom(registry.ns.register(NetworkService.fromPartial({ name: ns, payload: 'ETHERNET', matches }), budget()));
    }
    registry.dispose();
    for (const [i, nse] of info.entries()) {
      await mesh.endpoint(0, `nse-${i}`, { services: [nse.ns], labels: { [nse.key]: nse.value }, additional: [point2pointIpam(['172.16.0.96/29'])], registerServices: false });
    }
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { additional: [excludedPrefixesClient({ awarenessGroups: [['kernel://my-ns-1?color=red', 'kernel://my-ns-2?color=red']] })] });
    const conns = [];
    for (const [i, nse] of info.entries()) {
      conns.push(await nsc.request({ connection: { id: String(i), networkService: nse.ns, labels: { [nse.key]: nse.value }, mechanism: { cls: 'LOCAL', type: 'KERNEL' } }, mechanismPreferences: [kernel] }));
      expect(conns[i]?.networkServiceEndpointName).toBe(`nse-${i}`);
    }
    const src = conns.map((c) => c.context?.ipContext?.srcIpAddrs[0]);
    expect(src[0]).toBe(src[1]);
    expect(src[2]).not.toBe(src[0]);
    expect(src[2]).not.toBe(src[1]);
    for (const c of conns) await nsc.close(c);
  });

  it('Test_Timeout (the timeout part; the tokens_expired policy comes with the identity issue): a client with a 2 s token that "dies" after its first Request (1.5 s budget); the hops time the connection out and the NSE gets 1 Close', async () => {
    const sandbox = await h.recreate({ tokenLifetime: 2000 });
    const mesh = await Mesh.build(sandbox);
    const nse = await mesh.endpoint(0, 'final-endpoint');
    const dies = new ErrorInjector().failRequests(1, -1); // every later Request (its refreshes) fails
    const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { retry: false, heal: false, additional: [dies.element] });
    await nsc.request({ connection: { id: 'nsc-1', networkService: 'ns' }, mechanismPreferences: [kernel] }, 1500);
    expect(nse.counter.requests).toBe(1);
    expect(nse.counter.closes).toBe(0);
    await expect.poll(() => nse.counter.closes, { timeout: 5000 }).toBe(1);
    h.expectLeftovers(); // the "dead" client still holds its side, as a crashed process would
  });
});

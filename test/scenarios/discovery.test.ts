import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { NetworkService } from '../../proto/gen/registry.js';
import { Context } from '../../operators/core/context.js';
import { useSandbox } from '../sandbox/harness.js';
import { Mesh } from '../sandbox/mesh.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };
const budget = () => Context.background.withDeadline(Date.now() + 5000);

describe('discovery through live registry views', () => {
  const h = useSandbox();

  it('an NSE registered a moment ago serves the next Request: a miss in the views Finds once (upstream querycache + Find)', async () => {
    const mesh = await Mesh.build(h.sandbox);
    // Each request picks the endpoints labelled with its own `pick`.
    const service = NetworkService.fromPartial({ name: 'ns', payload: 'ETHERNET', matches: [{ sourceSelector: {}, routes: [{ destinationSelector: { pick: '{{.pick}}' } }] }] });
    const registry = mesh.registryOf(0);
    await firstValueFrom(registry.ns.register(service, budget()));
    registry.dispose(); // registered; no need to keep it registered (heal) from here
    const a = await mesh.endpoint(0, 'nse-a', { labels: { pick: 'a' }, registerServices: false });
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { retry: false });
    // The first Request opens the views of "ns" at the nsmgr and the forwarder.
    const first = await nsc.request({ connection: { id: 'nsc-a', networkService: 'ns', labels: { pick: 'a' } }, mechanismPreferences: [kernel] });
    expect(first.networkServiceEndpointName).toBe('nse-a');
    const b = await mesh.endpoint(0, 'nse-b', { labels: { pick: 'b' }, registerServices: false });
    const second = await nsc.request({ connection: { id: 'nsc-b', networkService: 'ns', labels: { pick: 'b' } }, mechanismPreferences: [kernel] });
    expect(second.networkServiceEndpointName).toBe('nse-b');
    expect([a.counter.requests, b.counter.requests]).toEqual([1, 1]);
    await nsc.close(first);
    await nsc.close(second);
    expect([a.counter.closes, b.counter.closes]).toEqual([1, 1]);
  });
});

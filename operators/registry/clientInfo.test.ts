import { defer, lastValueFrom, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint, type NetworkServiceEndpointQuery } from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { registryChain, type NSEHandler } from '../core/registry.js';
import { nseClientInfo, withClientInfo } from './clientInfo.js';

const ENV = { NODE_NAME: 'node-1', POD_NAME: 'pod-1' };

describe('withClientInfo', () => {
  it('labels every service that has a labels entry; labels already there win; the input is not changed', () => {
    const nse = NetworkServiceEndpoint.fromPartial({
      name: 'nse',
      networkServiceNames: ['a', 'b', 'c'],
      networkServiceLabels: { a: { labels: { app: 'x' } }, b: { labels: { nodeName: 'pinned' } } },
    });
    const out = withClientInfo(nse, ENV);
    expect(out.networkServiceLabels).toEqual({
      a: { labels: { app: 'x', nodeName: 'node-1', podName: 'pod-1' } },
      b: { labels: { nodeName: 'pinned', podName: 'pod-1' } },
    });
    // service c has no labels entry: none is made (upstream ranges over the map)
    expect(out.networkServiceLabels['c']).toBeUndefined();
    expect(nse.networkServiceLabels['a']?.labels).toEqual({ app: 'x' });
  });
});

describe('nseClientInfo', () => {
  it('labels Register; Find and Unregister pass through untouched', async () => {
    const seen: { op: string; item: unknown }[] = [];
    const next: NSEHandler = {
      register: (nse) => defer(() => (seen.push({ op: 'register', item: nse }), of(nse))),
      find: (q: NetworkServiceEndpointQuery) => defer(() => (seen.push({ op: 'find', item: q }), of())),
      unregister: (nse) => defer(() => (seen.push({ op: 'unregister', item: nse }), of(undefined))),
    };
    const handler = registryChain([nseClientInfo({ env: ENV })], next);
    const nse = NetworkServiceEndpoint.fromPartial({ name: 'nse', networkServiceLabels: { a: { labels: {} } } });
    const registered = await lastValueFrom(handler.register(nse, Context.background));
    expect(registered.networkServiceLabels['a']?.labels).toEqual({ nodeName: 'node-1', podName: 'pod-1' });
    await lastValueFrom(handler.find({ networkServiceEndpoint: nse, watch: false }, Context.background), { defaultValue: undefined });
    await lastValueFrom(handler.unregister(nse, Context.background));
    expect(seen.map((s) => s.op)).toEqual(['register', 'find', 'unregister']);
    expect((seen[1]?.item as NetworkServiceEndpointQuery).networkServiceEndpoint).toBe(nse);
    expect(seen[2]?.item).toBe(nse);
  });
});

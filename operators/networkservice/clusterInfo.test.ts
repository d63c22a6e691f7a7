import { BehaviorSubject, defer, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import type { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { chain } from '../core/networkservice.js';
import { registryChain } from '../core/registry.js';
import { nseClusterInfo } from '../registry/clusterInfo.js';
import { sync } from '../../test/sync.js';
import { clusterInfo } from './clusterInfo.js';

describe('clusterInfo (nsmgr-proxy: connections and registrations carry the cluster’s properties)', () => {
  it('the latest properties become connection labels, overriding the same keys', () => {
    const labels$ = new BehaviorSubject<Record<string, string>>({ clusterName: 'cluster1' });
    const handler = chain([clusterInfo(labels$)], { request: (r) => defer(() => of(r.connection as Connection)), close: () => of(undefined) });
    const request = () => sync(handler.request(NetworkServiceRequest.fromPartial({ connection: { id: '1', labels: { app: 'a', clusterName: 'mine' } } }), Context.background));
    expect(request().labels).toEqual({ app: 'a', clusterName: 'cluster1' });
    labels$.next({ clusterName: 'cluster1b', region: 'r1' });
    expect(request().labels).toEqual({ app: 'a', clusterName: 'cluster1b', region: 'r1' });
  });

  it('an NSE registered through the proxy gets them in every service’s labels', () => {
    const chainOf = registryChain([nseClusterInfo(of({ clusterName: 'cluster2' }))]);
    const answer = sync(chainOf.register(NetworkServiceEndpoint.fromPartial({ name: 'nse', networkServiceNames: ['a', 'b'], networkServiceLabels: { a: { labels: { app: 'x' } }, b: {} } }), Context.background));
    expect(answer.networkServiceLabels).toEqual({ a: { labels: { app: 'x', clusterName: 'cluster2' } }, b: { labels: { clusterName: 'cluster2' } } });
  });
});

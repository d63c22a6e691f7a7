import { defer, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Connection } from '../../proto/gen/connection.js';
import { Context } from '../core/context.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { parseNsmUrl } from '../tools/nsmUrl.js';
import { InterdomainUrls } from '../registry/interdomainBypass.js';
import { sync } from '../../test/sync.js';
import { clientUrlOf } from './clientUrl.js';
import { interdomainBypass } from './interdomainBypass.js';

describe('interdomainBypass (nsmgr-proxy)', () => {
  const seen: { service: string; endpoint: string; url: string | undefined; op: string }[] = [];
  const next: NetworkServiceHandler = {
    request: (r, ctx) =>
      defer(() => {
        seen.push({ op: 'request', service: r.connection?.networkService ?? '', endpoint: r.connection?.networkServiceEndpointName ?? '', url: clientUrlOf(ctx)?.href });
        return of(r.connection as Connection);
      }),
    close: (c, ctx) =>
      defer(() => {
        seen.push({ op: 'close', service: c.networkService, endpoint: c.networkServiceEndpointName, url: clientUrlOf(ctx)?.href });
        return of(undefined);
      }),
  };
  const urls = new InterdomainUrls();
  urls.found('nse-1@cluster2', parseNsmUrl('tcp://169.254.2.2:5004'));
  const handler = chain([interdomainBypass(urls)], next);
  const conn = (endpoint: string) => Connection.fromPartial({ id: '1', networkService: 'svc@cluster2', networkServiceEndpointName: endpoint });

  it('a known endpoint is dialled at its remembered URL, names as they are; an unknown one is this domain’s: @domain dropped on the way in, back in the answer', () => {
    seen.length = 0;
    const known = sync(handler.request(NetworkServiceRequest.fromPartial({ connection: conn('nse-1@cluster2') }), Context.background));
    const local = sync(handler.request(NetworkServiceRequest.fromPartial({ connection: conn('nse-9@cluster2') }), Context.background));
    sync(handler.close(conn('nse-1@cluster2'), Context.background));
    sync(handler.close(conn('nse-9@cluster2'), Context.background));
    expect(seen).toEqual([
      { op: 'request', service: 'svc@cluster2', endpoint: 'nse-1@cluster2', url: 'tcp://169.254.2.2:5004' },
      { op: 'request', service: 'svc', endpoint: 'nse-9', url: undefined },
      { op: 'close', service: 'svc@cluster2', endpoint: 'nse-1@cluster2', url: 'tcp://169.254.2.2:5004' },
      { op: 'close', service: 'svc', endpoint: 'nse-9', url: undefined },
    ]);
    expect([known.networkService, known.networkServiceEndpointName]).toEqual(['svc@cluster2', 'nse-1@cluster2']);
    expect([local.networkService, local.networkServiceEndpointName]).toEqual(['svc@cluster2', 'nse-9@cluster2']);
  });
});

import { of, type Observable } from 'rxjs';
import { toArray } from 'rxjs/operators';
import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint, type NetworkServiceEndpointResponse } from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { registryChain, type NSEHandler } from '../core/registry.js';
import { parseNsmUrl } from '../tools/nsmUrl.js';
import { sync } from '../../test/sync.js';
import { InterdomainUrls, nseInterdomainBypass } from './interdomainBypass.js';

const own = parseNsmUrl('tcp://169.254.1.2:5004');
const nse = (name: string, url: string) => NetworkServiceEndpoint.fromPartial({ name, url });

describe('nseInterdomainBypass (nsmgr-proxy NSE registry)', () => {
  it('Register: the registry beyond is told this proxy’s URL; the real one is remembered and answered', () => {
    const urls = new InterdomainUrls();
    const told: string[] = [];
    const next: NSEHandler = { register: (n) => (told.push(n.url), of(n)), find: () => of(), unregister: (n) => (told.push(n.url), of(undefined)) };
    const chain = registryChain([nseInterdomainBypass(urls, own)], next);
    const answer = sync(chain.register(nse('nse@floating', 'tcp://169.254.1.9:5001'), Context.background));
    expect(answer.url).toBe('tcp://169.254.1.9:5001');
    expect(urls.get('nse@floating')?.href).toBe('tcp://169.254.1.9:5001');
    sync(chain.unregister(nse('nse@floating', 'tcp://169.254.1.9:5001'), Context.background));
    expect(told).toEqual([own.href, own.href]);
    expect(urls.size).toBe(0);
  });

  it('Find: results point at this proxy; their URLs are remembered (a registration’s URL and this proxy’s own are never replaced); a deletion forgets what a Find taught', () => {
    const urls = new InterdomainUrls();
    urls.registered('mine@floating', parseNsmUrl('tcp://169.254.1.9:5001'));
    const responses: NetworkServiceEndpointResponse[] = [
      { deleted: false, networkServiceEndpoint: nse('nse-1@cluster2', 'tcp://169.254.2.2:5004') },
      { deleted: false, networkServiceEndpoint: nse('mine@floating', own.href) },
      { deleted: false, networkServiceEndpoint: nse('nse-1@cluster2', 'tcp://169.254.9.9:5004') },
    ];
    const next: NSEHandler = { register: (n) => of(n), unregister: () => of(undefined), find: (): Observable<NetworkServiceEndpointResponse> => of(...responses) };
    const chain = registryChain([nseInterdomainBypass(urls, own)], next);
    const found = sync(chain.find({ networkServiceEndpoint: nse('', ''), watch: false }, Context.background).pipe(toArray()));
    expect(found.map((r) => r.networkServiceEndpoint?.url)).toEqual([own.href, own.href, own.href]);
    expect(urls.get('nse-1@cluster2')?.href).toBe('tcp://169.254.2.2:5004');
    expect(urls.get('mine@floating')?.href).toBe('tcp://169.254.1.9:5001');
    responses.splice(0, 3, { deleted: true, networkServiceEndpoint: nse('nse-1@cluster2', 'tcp://169.254.2.2:5004') }, { deleted: true, networkServiceEndpoint: nse('mine@floating', own.href) });
    sync(chain.find({ networkServiceEndpoint: nse('', ''), watch: true }, Context.background).pipe(toArray()));
    expect(urls.get('nse-1@cluster2')).toBeUndefined();
    expect(urls.get('mine@floating')?.href).toBe('tcp://169.254.1.9:5001');
  });
});

import { of } from 'rxjs';
import { toArray } from 'rxjs/operators';
import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { registryChain, type NSEHandler } from '../core/registry.js';
import { sync } from '../../test/sync.js';
import { nseSwapIp } from './swapIp.js';

describe('nseSwapIp (nsmgr-proxy NSE registry)', () => {
  it('the host of a tcp URL crosses the domain boundary through the map-ip map, both ways; other URLs as they are', () => {
    const told: string[] = [];
    const next: NSEHandler = {
      register: (n) => (told.push(n.url), of(n)),
      unregister: (n) => (told.push(n.url), of(undefined)),
      find: () => of({ deleted: false, networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name: 'x', url: 'tcp://10.0.0.5:5004' }) }),
    };
    const chain = registryChain([nseSwapIp(of({ '10.0.0.5': '1.2.3.4' }))], next);
    const nse = (url: string) => NetworkServiceEndpoint.fromPartial({ name: 'nse', url });
    expect(sync(chain.register(nse('tcp://10.0.0.5:5004'), Context.background)).url).toBe('tcp://1.2.3.4:5004');
    sync(chain.register(nse('unix:///nse.sock'), Context.background));
    sync(chain.unregister(nse('tcp://10.0.0.5:5004'), Context.background));
    expect(told).toEqual(['tcp://1.2.3.4:5004', 'unix:///nse.sock', 'tcp://1.2.3.4:5004']);
    const found = sync(chain.find({ networkServiceEndpoint: nse(''), watch: false }, Context.background).pipe(toArray()));
    expect(found[0]?.networkServiceEndpoint?.url).toBe('tcp://1.2.3.4:5004');
  });
});

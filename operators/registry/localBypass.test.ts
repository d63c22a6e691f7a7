import { firstValueFrom, lastValueFrom, of, throwError } from 'rxjs';
import { toArray } from 'rxjs/operators';
import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint, NetworkServiceEndpointQuery, type NetworkServiceEndpointResponse } from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { NsmError } from '../core/errors.js';
import { registryChain, type NSEElement } from '../core/registry.js';
import { localBypass } from './localBypass.js';

const nsmgr = 'tcp://10.0.0.1:5001';
const nse = (name: string, url: string) => NetworkServiceEndpoint.fromPartial({ name, url, networkServiceNames: ['ns'] });

/** What the registry beyond the nsmgr saw, and what its Find returns. */
function remote(found: NetworkServiceEndpointResponse[] = []) {
  const seen: NetworkServiceEndpoint[] = [];
  const element: NSEElement = {
    register: (item) => {
      seen.push(item);
      return of(item);
    },
    find: () => of(...found),
    unregister: (item) => {
      seen.push(item);
      return of(undefined);
    },
  };
  return { seen, element };
}

describe('localBypass', () => {
  it('registers the nsmgr URL beyond, and gives the caller its real URL back', async () => {
    const r = remote();
    const bypass = localBypass(nsmgr);
    const reg = await firstValueFrom(registryChain([bypass, r.element]).register(nse('nse-1', 'unix:///nse.sock'), Context.background));
    expect(r.seen.map((x) => x.url)).toEqual([nsmgr]);
    expect(reg.url).toBe('unix:///nse.sock');
    expect(bypass.urls.get('nse-1')).toBe('unix:///nse.sock');
  });

  it('rewrites Find results of known names to their real URL and drops stale entries claiming this nsmgr', async () => {
    const r = remote([
      { networkServiceEndpoint: nse('nse-1', nsmgr), deleted: false },
      { networkServiceEndpoint: nse('stale', nsmgr), deleted: false },
      { networkServiceEndpoint: nse('stale', nsmgr), deleted: true },
      { networkServiceEndpoint: nse('remote', 'tcp://10.0.0.2:5001'), deleted: false },
    ]);
    const chain = registryChain([localBypass(nsmgr), r.element]);
    await firstValueFrom(chain.register(nse('nse-1', 'unix:///nse.sock'), Context.background));
    const found = await lastValueFrom(chain.find(NetworkServiceEndpointQuery.fromPartial({}), Context.background).pipe(toArray()));
    expect(found.map((f) => `${f.networkServiceEndpoint?.name} ${f.networkServiceEndpoint?.url} ${f.deleted}`)).toEqual([
      'nse-1 unix:///nse.sock false',
      `stale ${nsmgr} true`,
      'remote tcp://10.0.0.2:5001 false',
    ]);
  });

  it('unregisters known names under the nsmgr URL and forgets them; unknown names never reach beyond', async () => {
    const r = remote();
    const bypass = localBypass(nsmgr);
    const chain = registryChain([bypass, r.element]);
    await firstValueFrom(chain.register(nse('nse-1', 'unix:///nse.sock'), Context.background));
    await lastValueFrom(chain.unregister(nse('unknown', 'unix:///x.sock'), Context.background), { defaultValue: undefined });
    await lastValueFrom(chain.unregister(nse('nse-1', 'unix:///nse.sock'), Context.background), { defaultValue: undefined });
    expect(r.seen.map((x) => `${x.name} ${x.url}`)).toEqual([`nse-1 ${nsmgr}`, `nse-1 ${nsmgr}`]);
    expect(bypass.urls.size).toBe(0);
  });

  it('a failed first Register forgets the URL; a bad URL is INVALID_ARGUMENT', async () => {
    const bypass = localBypass(nsmgr);
    const failing: NSEElement = { register: () => throwError(() => new NsmError(14, 'registry down')) };
    await expect(firstValueFrom(registryChain([bypass, failing]).register(nse('nse-1', 'unix:///nse.sock'), Context.background))).rejects.toMatchObject({ code: 14 });
    expect(bypass.urls.size).toBe(0);
    await expect(firstValueFrom(registryChain([bypass]).register(nse('nse-2', 'nonsense'), Context.background))).rejects.toMatchObject({ code: 3 });
  });
});

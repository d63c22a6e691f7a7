import { EMPTY } from 'rxjs';
import { NetworkServiceEndpoint, type NetworkService } from '../proto/gen/registry.js';
import { matchNetworkServiceEndpoint } from '../operators/registry/matching.js';
import type { RegistryViews } from '../streams/registryViews.js';

/**
 * Registry views over arrays the test changes as it likes (what the watches would have
 * delivered); `undefined` arrays: no view yet. `reads` counts lookups. A query's `url` is not
 * compared: the registry matched it against the registered URL, which answers through an
 * nsmgr's localBypass no longer carry.
 */
export function fakeViews(content: { services?: NetworkService[]; endpoints?: NetworkServiceEndpoint[] }): RegistryViews & { reads: number } {
  const views = {
    reads: 0,
    size: 0,
    networkService: (name: string, payload = '') => {
      views.reads++;
      return content.services?.find((s) => s.name === name && (payload === '' || s.payload === payload));
    },
    networkServiceVersions: () => EMPTY,
    endpoints: (query: Partial<NetworkServiceEndpoint>) => {
      views.reads++;
      return content.endpoints?.filter((e) => matchNetworkServiceEndpoint(NetworkServiceEndpoint.fromPartial({ ...query, url: '' }), e));
    },
    dispose: () => undefined,
  };
  return views;
}

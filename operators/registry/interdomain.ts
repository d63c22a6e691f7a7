import type { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { unimplemented } from '../core/errors.js';
import { registryGuard, type NSEElement, type NSElement } from '../core/registry.js';

/** Upstream's rule: a name is interdomain when it has an `@domain` suffix. */
export const isInterdomain = (name: string): boolean => name.includes('@');

const nseNames = (nse: NetworkServiceEndpoint | undefined): string[] => (nse ? [nse.name, ...nse.networkServiceNames] : []);

function refuse(names: string[], proxyUrl: string | undefined): Error | undefined {
  const name = names.find(isInterdomain);
  if (name === undefined) return undefined;
  const where = proxyUrl ? `the proxy registry ${proxyUrl} (NSM_PROXY_REGISTRY_URL)` : 'a proxy registry (NSM_PROXY_REGISTRY_URL is not set)';
  return unimplemented(`"${name}" is an interdomain name: it belongs to ${where}, and forwarding there is not implemented yet`);
}

/**
 * Where upstream's memory registry switches `@domain` names to the proxy registry
 * (NSM_PROXY_REGISTRY_URL). Until the interdomain registry exists, such names get a clear
 * UNIMPLEMENTED instead of being stored as if they were local.
 */
export const nseInterdomain = (proxyUrl?: string): NSEElement =>
  registryGuard({
    item: (nse) => refuse(nseNames(nse), proxyUrl),
    query: (q) => refuse(nseNames(q.networkServiceEndpoint), proxyUrl),
  });

export const nsInterdomain = (proxyUrl?: string): NSElement =>
  registryGuard({
    item: (ns) => refuse([ns.name], proxyUrl),
    query: (q) => refuse(q.networkService ? [q.networkService.name] : [], proxyUrl),
  });

import { defer } from 'rxjs';
import { status } from '../core/status.js';
import type { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { NsmError } from '../core/errors.js';
import type { NSEElement, NSEHandler, NSElement, NSHandler, RegistryElement, RegistryHandler } from '../core/registry.js';
import { isInterdomain } from '../tools/interdomain.js';

const nseNames = (nse: NetworkServiceEndpoint | undefined): string[] => (nse ? [nse.name, ...nse.networkServiceNames] : []);

/** A registry without a proxy registry cannot serve `name`. */
const noProxy = (name: string) =>
  new NsmError(status.FAILED_PRECONDITION, `"${name}" is an interdomain name and this registry has no proxy registry for it (NSM_PROXY_REGISTRY_URL is not set)`);

/** Interdomain calls go to `proxy` (FAILED_PRECONDITION without one); the others on down the chain. */
function interdomainSwitch<T, Q, R>(names: { item: (item: T) => string[]; query: (query: Q) => string[] }, proxy: RegistryHandler<T, Q, R> | undefined): RegistryElement<T, Q, R> {
  const to = (all: string[], next: RegistryHandler<T, Q, R>): RegistryHandler<T, Q, R> => {
    const name = all.find(isInterdomain);
    if (name === undefined) return next;
    if (proxy === undefined) throw noProxy(name);
    return proxy;
  };
  return {
    register: (item, ctx, next) => defer(() => to(names.item(item), next).register(item, ctx)),
    find: (query, ctx, next) => defer(() => to(names.query(query), next).find(query, ctx)),
    unregister: (item, ctx, next) => defer(() => to(names.item(item), next).unregister(item, ctx)),
  };
}

/**
 * `nseInterdomain(proxy)` (registry NSE chain, upstream memory registry's switch): an NSE whose
 * name or any service name is `name@domain` belongs to another domain (or the floating one): its
 * Register, Find and Unregister go to the proxy registry (the nsmgr-proxy, NSM_PROXY_REGISTRY_URL)
 * instead of this registry's store. Without a proxy: FAILED_PRECONDITION naming the variable.
 *
 * ```
 * register {nse-1, [svc]}          → next (store)
 * register {nse-1@floating, [svc]} → proxy
 * ```
 */
export const nseInterdomain = (proxy: NSEHandler | undefined): NSEElement =>
  interdomainSwitch({ item: nseNames, query: (q) => nseNames(q.networkServiceEndpoint) }, proxy);

/** `nsInterdomain(proxy)`: the same switch for network services (`svc@domain`). */
export const nsInterdomain = (proxy: NSHandler | undefined): NSElement =>
  interdomainSwitch({ item: (ns) => [ns.name], query: (q) => (q.networkService ? [q.networkService.name] : []) }, proxy);

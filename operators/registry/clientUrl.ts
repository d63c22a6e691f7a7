import { ContextKey, type Context } from '../core/context.js';
import type { RegistryElement } from '../core/registry.js';
import type { NsmUrl } from '../tools/nsmUrl.js';

/** The registry this call goes to next, chosen by an element (upstream registry clienturl). */
export const registryUrlKey = new ContextKey<NsmUrl>('registry.clientUrl');

export const registryUrlOf = (ctx: Context): NsmUrl | undefined => ctx.get(registryUrlKey);

/** `registryClientUrl(url)`: every call goes on to this registry (nsmgr-proxy → registry-proxy-dns). */
export function registryClientUrl<T, Q, R>(url: NsmUrl): RegistryElement<T, Q, R> {
  return {
    register: (item, ctx, next) => next.register(item, ctx.with(registryUrlKey, url)),
    find: (query, ctx, next) => next.find(query, ctx.with(registryUrlKey, url)),
    unregister: (item, ctx, next) => next.unregister(item, ctx.with(registryUrlKey, url)),
  };
}

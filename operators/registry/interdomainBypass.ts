import { defer } from 'rxjs';
import { map, tap } from 'rxjs/operators';
import { invalidArgument } from '../core/errors.js';
import type { NSEElement } from '../core/registry.js';
import { parseNsmUrl, type NsmUrl } from '../tools/nsmUrl.js';

/**
 * Where the nsmgr-proxy sends a Request for an endpoint it has seen: the real URL of an NSE
 * registered through it (its nsmgr), or the URL another domain's registry gave for a remote one
 * (that domain's nsmgr-proxy). Shared by the registry and NetworkService halves of interdomainBypass.
 */
export class InterdomainUrls {
  private readonly urls = new Map<string, { readonly url: NsmUrl; readonly registered: boolean }>();

  /** The URL to dial for the endpoint `name`, if known. */
  get(name: string): NsmUrl | undefined {
    return this.urls.get(name)?.url;
  }

  /** Entries held (leak checks). */
  get size(): number {
    return this.urls.size;
  }

  registered(name: string, url: NsmUrl): void {
    this.urls.set(name, { url, registered: true });
  }

  unregistered(name: string): void {
    this.urls.delete(name);
  }

  /** A Find result: the first URL seen stays (a registration's real URL is never replaced by what a Find says). */
  found(name: string, url: NsmUrl): void {
    if (!this.urls.has(name)) this.urls.set(name, { url, registered: false });
  }

  /** A Find said `name` is gone: forget what only a Find taught. */
  gone(name: string): void {
    if (this.urls.get(name)?.registered === false) this.urls.delete(name);
  }
}

/** A Find result's URL, when it is one this proxy could dial (others are passed on, not remembered). */
function rememberFound(urls: InterdomainUrls, name: string, url: string): void {
  try {
    urls.found(name, parseNsmUrl(url));
  } catch {
    // nothing to dial: a Request for it will fail in discover, naming it
  }
}

/**
 * `nseInterdomainBypass(urls, ownUrl)` (nsmgr-proxy NSE registry, upstream interdomainbypass):
 * other domains must reach this domain's endpoints through this nsmgr-proxy. Register sends
 * `ownUrl` on and remembers the real URL (answering with it); Find remembers each endpoint's URL
 * and answers with `ownUrl`, so this domain's forwarders dial the proxy; Unregister forgets.
 *
 * ```
 * register {nse@floating, tcp://nsmgr-2}  → next sees tcp://proxy-2;   urls: nse@floating → nsmgr-2
 * find ← {nse@cluster2, tcp://proxy-2}    → caller sees tcp://proxy-1; urls: nse@cluster2 → proxy-2
 * ```
 */
export function nseInterdomainBypass(urls: InterdomainUrls, ownUrl: NsmUrl): NSEElement {
  return {
    register: (nse, ctx, next) =>
      defer(() => {
        let real: NsmUrl;
        try {
          real = parseNsmUrl(nse.url);
        } catch (e) {
          throw invalidArgument(`cannot register NSE ${nse.name} with URL "${nse.url}": ${(e as Error).message}`);
        }
        return next.register({ ...nse, url: ownUrl.href }, ctx).pipe(
          tap((reg) => urls.registered(reg.name, real)),
          map((reg) => ({ ...reg, url: nse.url })),
        );
      }),
    find: (query, ctx, next) =>
      next.find(query, ctx).pipe(
        map((response) => {
          const nse = response.networkServiceEndpoint;
          if (nse === undefined) return response;
          if (response.deleted) urls.gone(nse.name);
          else if (nse.url !== ownUrl.href) rememberFound(urls, nse.name, nse.url);
          return { ...response, networkServiceEndpoint: { ...nse, url: ownUrl.href } };
        }),
      ),
    unregister: (nse, ctx, next) =>
      defer(() => {
        urls.unregistered(nse.name);
        return next.unregister({ ...nse, url: ownUrl.href }, ctx);
      }),
  };
}

import { defer, EMPTY, of } from 'rxjs';
import { map, mergeMap, tap } from 'rxjs/operators';
import { invalidArgument } from '../core/errors.js';
import type { NSEElement } from '../core/registry.js';
import { parseNsmUrl } from '../tools/nsmUrl.js';

/** `localBypass` with the real URLs it remembers (for leak checks). */
export interface LocalBypassElement extends NSEElement {
  readonly urls: ReadonlyMap<string, string>;
}

/**
 * `localBypass(nsmgrUrl)` (nsmgr NSE registry, upstream localbypass): a local NSE registers
 * through its nsmgr; the registry beyond is told the nsmgr's URL (that is how other nodes reach
 * it: via this nsmgr), while this nsmgr remembers the NSE's real URL and puts it back in every
 * answer and Find result. A Find result that claims this nsmgr's URL for a name it does not know
 * is stale (an NSE of this node before a restart) and is dropped. Unregister of a name this
 * nsmgr never registered does nothing.
 *
 * ```
 * register {nse-1, unix:///nse.sock} → next sees {nse-1, tcp://nsmgr:5001} → caller gets unix:///nse.sock
 * find  ← {nse-1, tcp://nsmgr:5001} becomes {nse-1, unix:///nse.sock}; ← {old, tcp://nsmgr:5001} dropped
 * ```
 */
export function localBypass(nsmgrUrl: string): LocalBypassElement {
  const urls = new Map<string, string>();
  return {
    urls,
    register: (nse, ctx, next) =>
      defer(() => {
        const known = urls.get(nse.name);
        const real = nse.url;
        try {
          parseNsmUrl(real);
        } catch (e) {
          throw invalidArgument(`cannot register NSE ${nse.name} with URL "${real}": ${(e as Error).message}`);
        }
        urls.set(nse.name, real);
        return next.register({ ...nse, url: nsmgrUrl }, ctx).pipe(
          map((reg) => ({ ...reg, url: real })),
          tap({ error: () => (known === undefined ? urls.delete(nse.name) : urls.set(nse.name, known)) }),
        );
      }),
    find: (query, ctx, next) =>
      next.find(query, ctx).pipe(
        mergeMap((response) => {
          const nse = response.networkServiceEndpoint;
          if (nse === undefined) return of(response);
          const real = urls.get(nse.name);
          if (real !== undefined) return of({ ...response, networkServiceEndpoint: { ...nse, url: real } });
          return nse.url === nsmgrUrl && !response.deleted ? EMPTY : of(response);
        }),
      ),
    unregister: (nse, ctx, next) =>
      defer(() => {
        if (!urls.has(nse.name)) return of(undefined);
        return next.unregister({ ...nse, url: nsmgrUrl }, ctx).pipe(tap({ next: () => urls.delete(nse.name) }));
      }),
  };
}

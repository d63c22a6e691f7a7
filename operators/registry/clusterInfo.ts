import { defer, type Observable } from 'rxjs';
import { concatMap, take } from 'rxjs/operators';
import type { NSEElement } from '../core/registry.js';

/**
 * `nseClusterInfo(labels$)` (nsmgr-proxy NSE registry, upstream registry clusterinfo): an NSE
 * registered through the proxy carries the cluster's properties (latest of `labels$`) in the
 * labels of every service it has labels for, overriding the same keys.
 *
 * ```
 * labels$   {clusterName: cluster2}
 * register  {labels: {svc: {app: a}}} → next {labels: {svc: {app: a, clusterName: cluster2}}}
 * ```
 */
export function nseClusterInfo(labels$: Observable<Readonly<Record<string, string>>>): NSEElement {
  return {
    register: (nse, ctx, next) =>
      defer(() => labels$.pipe(take(1))).pipe(
        concatMap((labels) =>
          next.register(
            { ...nse, networkServiceLabels: Object.fromEntries(Object.entries(nse.networkServiceLabels).map(([service, entry]) => [service, { ...entry, labels: { ...(entry?.labels ?? {}), ...labels } }])) },
            ctx,
          ),
        ),
      ),
  };
}

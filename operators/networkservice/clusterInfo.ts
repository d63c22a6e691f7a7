import { defer, type Observable } from 'rxjs';
import { concatMap, take } from 'rxjs/operators';
import type { NetworkServiceElement } from '../core/networkservice.js';

/** Where upstream reads the cluster's properties (the cluster-info ConfigMap, mounted). */
export const CLUSTER_INFO_FILE = '/etc/clusterinfo/config.yaml';

/**
 * `clusterInfo(labels$)` (nsmgr-proxy, upstream clusterinfo server): every Request carries the
 * cluster's properties (the latest of `labels$`, the cluster-info file) as connection labels,
 * overriding labels of the same key, so the other domain's endpoint selection can match on them
 * (e.g. `clusterName`).
 *
 * ```
 * labels$  {clusterName: cluster1}
 * request  {labels: {app: a}} → next {labels: {app: a, clusterName: cluster1}}
 * ```
 */
export function clusterInfo(labels$: Observable<Readonly<Record<string, string>>>): NetworkServiceElement {
  return {
    request: (request, ctx, next) =>
      defer(() => labels$.pipe(take(1))).pipe(
        concatMap((labels) => {
          if (request.connection) request.connection.labels = { ...request.connection.labels, ...labels };
          return next.request(request, ctx);
        }),
      ),
  };
}

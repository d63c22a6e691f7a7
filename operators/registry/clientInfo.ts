import { defer } from 'rxjs';
import type { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import type { NSEElement } from '../core/registry.js';
import { addClientInfo, type ClientInfoOptions } from '../networkservice/clientInfo.js';

/**
 * The NSE with `nodeName`/`podName`/`clusterName` added to the labels of every service it has a
 * `network_service_labels` entry for (services without an entry get none, as upstream). Labels
 * already present win. Returns a copy; `nse` is not changed.
 */
export function withClientInfo(nse: NetworkServiceEndpoint, env: Readonly<Record<string, string | undefined>>): NetworkServiceEndpoint {
  const networkServiceLabels: NetworkServiceEndpoint['networkServiceLabels'] = {};
  for (const [service, entry] of Object.entries(nse.networkServiceLabels)) {
    const labels = { ...(entry?.labels ?? {}) };
    addClientInfo(labels, env);
    networkServiceLabels[service] = { ...entry, labels };
  }
  return { ...nse, networkServiceLabels };
}

/**
 * `nseClientInfo` (NSE registry; nsmgr server chain and registry clients, upstream
 * registry/common/clientinfo): every Register labels the NSE, per service, with the node, pod
 * and cluster it runs on, read from `NODE_NAME`, `POD_NAME`, `CLUSTER_NAME` at call time.
 * Find and Unregister pass through.
 */
export function nseClientInfo(options: ClientInfoOptions = {}): NSEElement {
  const env = options.env ?? process.env;
  return {
    register: (nse, ctx, next) => defer(() => next.register(withClientInfo(nse, env), ctx)),
  };
}

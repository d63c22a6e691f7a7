import { defer } from 'rxjs';
import type { NetworkServiceElement } from '../core/networkservice.js';

/** Where the client info comes from: environment variable → label (upstream tools/clientinfo). */
export const CLIENT_INFO_LABELS: Readonly<Record<string, string>> = {
  NODE_NAME: 'nodeName',
  POD_NAME: 'podName',
  CLUSTER_NAME: 'clusterName',
};

/** An environment to read: `process.env` or a test's record. */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Adds `nodeName`, `podName` and `clusterName` to `labels` from `NODE_NAME`, `POD_NAME` and
 * `CLUSTER_NAME` in `env`. A variable that is not set is skipped; a variable set to "" is used
 * (Go's os.LookupEnv); a label already present is never overwritten. Mutates `labels`.
 */
export function addClientInfo(labels: Record<string, string>, env: Env): void {
  for (const [variable, label] of Object.entries(CLIENT_INFO_LABELS)) {
    const value = env[variable];
    if (value === undefined || Object.hasOwn(labels, label)) continue;
    labels[label] = value;
  }
}

export interface ClientInfoOptions {
  /** The environment to read on every Request (default `process.env`, read at call time as upstream). */
  readonly env?: Env;
}

/**
 * `clientInfo` (nsmgr, client side upstream, used in the server chain): labels the requested
 * connection with where the client runs, so network service matches can select on
 * `{{.nodeName}}`, `{{.podName}}` or `{{.clusterName}}`. Labels the client set win. Close passes
 * through.
 */
export function clientInfo(options: ClientInfoOptions = {}): NetworkServiceElement {
  const env = options.env ?? process.env;
  return {
    request: (request, ctx, next) =>
      defer(() => {
        const conn = request.connection;
        if (conn !== undefined) {
          conn.labels ??= {};
          addClientInfo(conn.labels, env);
        }
        return next.request(request, ctx);
      }),
  };
}

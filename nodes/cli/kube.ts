import { existsSync, readFileSync } from 'node:fs';
import { KubeClient } from '../../k8s/client.js';
import { Informers } from '../../k8s/informers.js';
import type { RunContext } from './component.js';

/** Where a pod's service account says its namespace is. */
const serviceAccountNamespace = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/**
 * A Kubernetes component's client (KUBECONFIG, else the pod's service account, else
 * ~/.kube/config) and informers; a broken or forbidden API is logged as a warning with the
 * reason while the informers wait for it. The client's connections close at shutdown.
 */
export function kubeFor(ctx: RunContext): { client: KubeClient; informers: Informers } {
  const client = KubeClient.load(ctx.env['KUBECONFIG']);
  const informers = new Informers(client, { onRetry: (e, ms) => ctx.log.warn('waiting for the Kubernetes API', { apiserver: client.server, why: (e as Error).message, retryInMs: ms }) });
  ctx.lifecycle.onShutdown('kubernetes client', () => client.close());
  return { client, informers };
}

/** The pod's own namespace: POD_NAMESPACE, else its service account's, else `fallback`. */
export function podNamespace(ctx: RunContext, fallback: string): string {
  return ctx.env['POD_NAMESPACE'] || (existsSync(serviceAccountNamespace) ? readFileSync(serviceAccountNamespace, 'utf8').trim() : fallback);
}

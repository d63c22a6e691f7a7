import { isStatus, type KubeClient } from '../client.js';
import { mutatingWebhookConfigurations, type KubeObject } from '../resource.js';

/** How the apiserver reaches the webhook: upstream's Service reference, or a URL (nsm-rx: out-of-cluster webhooks). */
export type WebhookClientConfig = { readonly service: { readonly namespace: string; readonly name: string } } | { readonly url: string };

/**
 * The MutatingWebhookConfiguration upstream's webhook registers in selfregister mode: named
 * NSM_NAME, one webhook `<NSM_NAME>.<NSM_ANNOTATION>` for CREATE and UPDATE of pods and of the
 * workloads with pod templates, failing closed, no side effects, trusting `caBundle` (PEM).
 */
export function webhookConfiguration(name: string, annotation: string, caBundle: string, client: WebhookClientConfig): KubeObject {
  const rule = (apiGroups: string[], resources: string[]) => ({ operations: ['CREATE', 'UPDATE'], apiGroups, apiVersions: ['v1'], resources });
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name },
    webhooks: [
      {
        name: `${name}.${annotation}`,
        rules: [rule([''], ['pods']), rule(['apps'], ['deployments', 'statefulsets', 'daemonsets', 'replicasets']), rule(['batch'], ['jobs', 'cronjobs'])],
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        failurePolicy: 'Fail',
        clientConfig: {
          ...('url' in client ? { url: client.url } : { service: { ...client.service, path: '/mutate' } }),
          caBundle: Buffer.from(caBundle).toString('base64'),
        },
      },
    ],
  };
}

/** Registers `config`, replacing one of the same name left by an earlier run (its certificate is gone with it). */
export async function registerWebhook(client: KubeClient, config: KubeObject): Promise<void> {
  const name = config.metadata.name as string;
  await unregisterWebhook(client, name);
  await client.create(mutatingWebhookConfigurations, config);
}

export async function unregisterWebhook(client: KubeClient, name: string): Promise<void> {
  try {
    await client.delete(mutatingWebhookConfigurations, undefined, name);
  } catch (e) {
    if (!isStatus(e, 404)) throw e;
  }
}

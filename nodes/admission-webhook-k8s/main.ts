import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { firstValueFrom, type Subscription } from 'rxjs';
import { admissionPatch, type InjectionConfig } from '../../k8s/admission/patch.js';
import { registerWebhook, unregisterWebhook, webhookConfiguration } from '../../k8s/admission/selfRegister.js';
import { admissionWebhookServer } from '../../k8s/admission/server.js';
import type { InformerView } from '../../k8s/informer.js';
import { namespaces, type KubeObject } from '../../k8s/resource.js';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import { createCa, dnsName, ipAddress, issueServerCertificate } from '../../streams/spiffe/ca.js';
import { workloadApiSource } from '../../streams/spiffe/workloadApi.js';
import { defineComponent } from '../cli/component.js';
import { list, map, oneOf, str, uint, type ConfigOf, type Env } from '../cli/config.js';
import { kubeFor } from '../cli/kube.js';

const spec = {
  name: str('NSM_NAME', 'admission-webhook-k8s', 'Name of the MutatingWebhookConfiguration (selfregister mode)'),
  serviceName: str('NSM_SERVICE_NAME', 'default', 'Service the apiserver calls the webhook through'),
  namespace: str('NSM_NAMESPACE', 'default', 'Namespace of that Service'),
  annotation: str('NSM_ANNOTATION', 'networkservicemesh.io', 'Annotation naming the network services of a Pod or workload'),
  labels: map('NSM_LABELS', '', 'Labels added to patched pod templates (k1:v1,k2:v2)'),
  nsurlEnvName: str('NSM_NSURL_ENV_NAME', 'NSM_NETWORK_SERVICES', 'Variable the injected containers get the annotation in'),
  initContainerImages: list('NSM_INIT_CONTAINER_IMAGES', '', 'Init containers to inject (the nsc-init image)'),
  containerImages: list('NSM_CONTAINER_IMAGES', '', 'Sidecars to inject (the nsc image)'),
  envs: list('NSM_ENVS', '', 'K=V variables given to every injected container'),
  webhookMode: oneOf('NSM_WEBHOOK_MODE', ['spire', 'selfregister'], 'spire', 'spire: the serving certificate is the SVID (or the files below) and the configuration is deployed; selfregister: own CA, registers its configuration'),
  certFilePath: str('NSM_CERT_FILE_PATH', '', 'Serving certificate (PEM); with the key, used in either mode'),
  keyFilePath: str('NSM_KEY_FILE_PATH', '', 'Its private key (PEM)'),
  caBundleFilePath: str('NSM_CA_BUNDLE_FILE_PATH', '', 'CA bundle registered with the certificate files (selfregister)'),
  sidecarLimitsMemory: str('NSM_SIDECAR_LIMITS_MEMORY', '80Mi', 'Memory limit of injected containers'),
  sidecarLimitsCpu: str('NSM_SIDECAR_LIMITS_CPU', '200m', 'CPU limit of injected containers'),
  sidecarRequestsMemory: str('NSM_SIDECAR_REQUESTS_MEMORY', '40Mi', 'Memory request of injected containers'),
  sidecarRequestsCpu: str('NSM_SIDECAR_REQUESTS_CPU', '100m', 'CPU request of injected containers'),
  kubeletQps: uint('NSM_KUBELET_QPS', '50', 'Upstream: the Kubernetes client rate limit. Accepted; the webhook reads Namespaces from one informer'),
  listenOn: str('NSM_LISTEN_ON', ':443', 'nsm-rx: host:port of the HTTPS server (upstream: always :443)'),
  webhookUrl: str('NSM_WEBHOOK_URL', '', 'nsm-rx: register clientConfig.url instead of the Service (a webhook outside the cluster)'),
};

/** Serving certificate and key (PEM), and the CA bundle to register. */
async function servingCertificate(config: ConfigOf<typeof spec>, env: Env): Promise<{ cert: string; key: string; caBundle: string }> {
  if (config.certFilePath && config.keyFilePath) {
    const cert = readFileSync(config.certFilePath, 'utf8');
    return { cert, key: readFileSync(config.keyFilePath, 'utf8'), caBundle: config.caBundleFilePath ? readFileSync(config.caBundleFilePath, 'utf8') : cert };
  }
  if (config.webhookMode === 'spire') {
    const { source, stop } = workloadApiSource(parseNsmUrl(env['SPIFFE_ENDPOINT_SOCKET'] || 'unix:///run/spire/sockets/agent.sock'));
    const { svid } = await source.ready();
    stop();
    return { cert: svid.chain.map((c) => c.toString()).join(''), key: svid.key.export({ type: 'pkcs8', format: 'pem' }).toString(), caBundle: '' };
  }
  // selfregister without files: a CA of our own for `<svc>.<ns>[.svc]` (and the URL's host), as upstream makes one.
  const now = new Date();
  const year = 365 * 24 * 3600_000;
  const ca = createCa(`${config.serviceName}.${config.namespace}`, now, year);
  const host = config.webhookUrl ? new URL(config.webhookUrl).hostname : undefined;
  const names = [dnsName(`${config.serviceName}.${config.namespace}`), dnsName(`${config.serviceName}.${config.namespace}.svc`), ...(host ? [/^[\d.]+$|:/.test(host) ? ipAddress(host.replace(/^\[|\]$/g, '')) : dnsName(host)] : [])];
  const leaf = issueServerCertificate(ca, `${config.serviceName}.${config.namespace}.svc`, names, now, year);
  return { cert: leaf.cert.toString(), key: leaf.key.export({ type: 'pkcs8', format: 'pem' }).toString(), caBundle: ca.cert.toString() };
}

/**
 * `nsm-rx admission-webhook-k8s` (upstream cmd-admission-webhook-k8s): injects the nsc-init
 * init container and the nsc sidecar into Pods and workloads annotated with NSM_ANNOTATION (or
 * Pods in an annotated Namespace). In selfregister mode it makes its own CA and registers its
 * MutatingWebhookConfiguration, removed again on exit.
 */
export const component = defineComponent({
  name: 'admission-webhook-k8s',
  summary: 'injects the nsc and nsc-init into annotated Pods and workloads (upstream cmd-admission-webhook-k8s)',
  spec,
  async run(config, ctx) {
    const { client, informers } = kubeFor(ctx);
    const injection: InjectionConfig = {
      annotation: config.annotation,
      labels: config.labels,
      nsurlEnvName: config.nsurlEnvName,
      initContainerImages: config.initContainerImages,
      containerImages: config.containerImages,
      envs: config.envs.map((e) => ({ name: e.split('=')[0] ?? e, value: e.slice(e.indexOf('=') + 1) })),
      resources: { limits: { memory: config.sidecarLimitsMemory, cpu: config.sidecarLimitsCpu }, requests: { memory: config.sidecarRequestsMemory, cpu: config.sidecarRequestsCpu } },
    };
    // Namespaces through one informer (a Pod's inherited annotation, its pod-security level);
    // the review reads the latest view synchronously, as the server answers.
    let current: InformerView<KubeObject> | undefined;
    const namespaces$ = informers.view<KubeObject>(namespaces);
    const held: Subscription = namespaces$.subscribe((v) => (current = v));
    ctx.lifecycle.onShutdown('namespaces', () => held.unsubscribe());
    await firstValueFrom(namespaces$);
    const namespaceOf = (name: string) => {
      const meta = current?.items.get(name)?.metadata;
      return meta && { annotations: meta.annotations ?? {}, labels: meta.labels ?? {} };
    };

    const tls = await servingCertificate(config, ctx.env);
    const server = admissionWebhookServer(tls, (request) => admissionPatch(request, injection, namespaceOf), ctx.log);
    const [host, port] = [config.listenOn.slice(0, config.listenOn.lastIndexOf(':')), Number(config.listenOn.slice(config.listenOn.lastIndexOf(':') + 1))];
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host || undefined, resolve));
    ctx.lifecycle.onShutdown('https server', () => new Promise<void>((resolve) => server.close(() => resolve())));
    ctx.log.info('serving', { address: server.address() as AddressInfo, mode: config.webhookMode });

    if (config.webhookMode === 'selfregister') {
      const clientConfig = config.webhookUrl ? { url: config.webhookUrl } : { service: { namespace: config.namespace, name: config.serviceName } };
      await registerWebhook(client, webhookConfiguration(config.name, config.annotation, tls.caBundle, clientConfig));
      ctx.log.info('registered', { mutatingWebhookConfiguration: config.name });
      ctx.lifecycle.onShutdown('mutating webhook configuration', () => unregisterWebhook(client, config.name));
    }
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  },
});

import { readFileSync } from 'node:fs';
import { isIP, type AddressInfo } from 'node:net';
import { firstValueFrom, map as rxMap, of, type Observable, type Subscription } from 'rxjs';
import { admissionPatch, type InjectionConfig } from '../../k8s/admission/patch.js';
import { registerWebhook, unregisterWebhook, webhookConfiguration } from '../../k8s/admission/selfRegister.js';
import { admissionWebhookServer, type ServingCertificate } from '../../k8s/admission/server.js';
import type { InformerView } from '../../k8s/informer.js';
import { namespaces, type KubeObject } from '../../k8s/resource.js';
import { parseNsmUrl, type NsmUrl } from '../../operators/tools/nsmUrl.js';
import { createCa, dnsName, ipAddress, issueServerCertificate, newRsaKey } from '../../streams/spiffe/ca.js';
import { workloadApiSource } from '../../streams/spiffe/workloadApi.js';
import { defineComponent, type RunContext } from '../cli/component.js';
import { InvalidValue, list, map, oneOf, splitList, str, uint, variable, type ConfigOf } from '../cli/config.js';
import { kubeFor } from '../cli/kube.js';
import { securitySpec } from '../cli/security.js';

/** NSM_ENVS: `K=V` items, split at the first '=' (a value may hold more). */
const envs = variable({
  env: 'NSM_ENVS',
  def: '',
  description: 'K=V variables given to every injected container',
  kind: 'list',
  expected: 'comma-separated K=V items, e.g. NSM_LOG_LEVEL=TRACE,NSM_LIVENESSCHECKENABLED=false',
  parse: (s) =>
    splitList(s).map((item) => {
      const i = item.indexOf('=');
      if (i <= 0) throw new InvalidValue(`item ${JSON.stringify(item)} is not K=V`);
      return { name: item.slice(0, i), value: item.slice(i + 1) };
    }),
  zero: () => [],
});

/** NSM_LISTEN_ON: a TCP address; `:port` is every interface, as Go's. */
const tcpListen = variable({
  env: 'NSM_LISTEN_ON',
  def: ':443',
  description: 'nsm-rx: host:port of the HTTPS server (upstream: always :443)',
  kind: 'address',
  expected: 'host:port, :port or tcp://host:port',
  parse: (s): NsmUrl & { scheme: 'tcp' } => {
    let u: NsmUrl;
    try {
      u = parseNsmUrl(s.startsWith(':') ? `tcp://${s}` : s);
    } catch (e) {
      throw new InvalidValue((e as Error).message);
    }
    if (u.scheme !== 'tcp') throw new InvalidValue('the webhook serves HTTPS on TCP');
    return u;
  },
});

/** NSM_WEBHOOK_URL: where the apiserver calls the webhook when it is not the Service. */
const webhookUrl = variable({
  env: 'NSM_WEBHOOK_URL',
  def: '',
  description: 'nsm-rx: register clientConfig.url instead of the Service (a webhook outside the cluster)',
  kind: 'URL',
  expected: 'an https:// URL, e.g. https://127.0.0.1:8443/mutate',
  parse: (s): URL | undefined => {
    if (s === '') return undefined;
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new InvalidValue('not a URL');
    }
    if (u.protocol !== 'https:') throw new InvalidValue('the apiserver calls webhooks over https');
    return u;
  },
  zero: () => undefined,
});

const spec = {
  name: str('NSM_NAME', 'admission-webhook-k8s', 'Name of the MutatingWebhookConfiguration (selfregister mode)'),
  serviceName: str('NSM_SERVICE_NAME', 'default', 'Service the apiserver calls the webhook through'),
  namespace: str('NSM_NAMESPACE', 'default', 'Namespace of that Service'),
  annotation: str('NSM_ANNOTATION', 'networkservicemesh.io', 'Annotation naming the network services of a Pod or workload'),
  labels: map('NSM_LABELS', '', 'Labels added to patched pod templates (k1:v1,k2:v2)'),
  nsurlEnvName: str('NSM_NSURL_ENV_NAME', 'NSM_NETWORK_SERVICES', 'Variable the injected containers get the annotation in'),
  initContainerImages: list('NSM_INIT_CONTAINER_IMAGES', '', 'Init containers to inject (the nsc-init image; none by default, as upstream: the deployment names it)'),
  containerImages: list('NSM_CONTAINER_IMAGES', '', 'Sidecars to inject (the nsc image; none by default, as upstream)'),
  envs,
  webhookMode: oneOf('NSM_WEBHOOK_MODE', ['spire', 'selfregister'], 'spire', 'spire: the serving certificate is the SVID (or the files below) and the configuration is deployed; selfregister: own CA, registers its configuration'),
  certFilePath: str('NSM_CERT_FILE_PATH', '', 'Serving certificate (PEM); with the key, used in either mode'),
  keyFilePath: str('NSM_KEY_FILE_PATH', '', 'Its private key (PEM)'),
  caBundleFilePath: str('NSM_CA_BUNDLE_FILE_PATH', '', 'CA bundle registered with the certificate files (selfregister)'),
  sidecarLimitsMemory: str('NSM_SIDECAR_LIMITS_MEMORY', '80Mi', 'Memory limit of injected containers'),
  sidecarLimitsCpu: str('NSM_SIDECAR_LIMITS_CPU', '200m', 'CPU limit of injected containers'),
  sidecarRequestsMemory: str('NSM_SIDECAR_REQUESTS_MEMORY', '40Mi', 'Memory request of injected containers'),
  sidecarRequestsCpu: str('NSM_SIDECAR_REQUESTS_CPU', '100m', 'CPU request of injected containers'),
  kubeletQps: uint('NSM_KUBELET_QPS', '50', 'Upstream: the Kubernetes client rate limit. Accepted; the webhook reads Namespaces from one informer'),
  listenOn: tcpListen,
  webhookUrl,
  spiffeEndpointSocket: securitySpec.spiffeEndpointSocket,
};

const waitingEvery = 5;

/**
 * The serving certificates (PEM) and the CA bundle to register: the files when given (either
 * mode, as upstream); spire mode: this pod's X.509-SVID, following its rotation; selfregister: a
 * CA of our own and an RSA-2048 certificate (upstream's key) for `<svc>.<ns>[.svc]` (and
 * NSM_WEBHOOK_URL's host), valid a year.
 */
function servingCertificates(config: ConfigOf<typeof spec>, ctx: RunContext): { certificates: Observable<ServingCertificate>; caBundle: string } {
  if (config.certFilePath && config.keyFilePath) {
    const cert = readFileSync(config.certFilePath, 'utf8');
    return { certificates: of({ cert, key: readFileSync(config.keyFilePath, 'utf8') }), caBundle: config.caBundleFilePath ? readFileSync(config.caBundleFilePath, 'utf8') : cert };
  }
  if (config.webhookMode === 'spire') {
    let failures = 0;
    const { source, stop } = workloadApiSource(config.spiffeEndpointSocket, {
      onError: (e) => {
        if (failures++ % waitingEvery === 0) ctx.log.warn('waiting for an X.509-SVID', { socket: config.spiffeEndpointSocket.href, error: e instanceof Error ? e.message : String(e) });
      },
    });
    ctx.lifecycle.onShutdown('workload API', stop);
    const certificates = source.updates.pipe(rxMap(({ svid }) => ({ cert: svid.chain.map((c) => c.toString()).join(''), key: svid.key.export({ type: 'pkcs8', format: 'pem' }).toString() })));
    return { certificates, caBundle: '' };
  }
  const now = new Date();
  const year = 365 * 24 * 3600_000;
  const service = `${config.serviceName}.${config.namespace}`;
  const ca = createCa(service, now, year, newRsaKey());
  const host = config.webhookUrl?.hostname.replace(/^\[|\]$/g, '');
  const names = [dnsName(service), dnsName(`${service}.svc`), ...(host ? [isIP(host) ? ipAddress(host) : dnsName(host)] : [])];
  const leaf = issueServerCertificate(ca, `${service}.svc`, names, now, year, newRsaKey());
  return { certificates: of({ cert: leaf.cert.toString(), key: leaf.key.export({ type: 'pkcs8', format: 'pem' }).toString() }), caBundle: ca.cert.toString() };
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
      envs: config.envs,
      resources: { limits: { memory: config.sidecarLimitsMemory, cpu: config.sidecarLimitsCpu }, requests: { memory: config.sidecarRequestsMemory, cpu: config.sidecarRequestsCpu } },
    };
    // Namespaces through one informer (a Pod's inherited annotation, its pod-security level);
    // the review reads the latest view synchronously, as the server answers.
    let current: InformerView<KubeObject> | undefined;
    const namespaces$ = informers.view<KubeObject>(namespaces);
    const held: Subscription = namespaces$.subscribe((v) => (current = v));
    ctx.lifecycle.onShutdown('namespaces', () => held.unsubscribe());
    // Waits (saying why, through the informer's retries) for the apiserver and for the SVID.
    const aborted = new Promise<never>((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('stopped before serving')), { once: true }));
    await Promise.race([firstValueFrom(namespaces$), aborted]);
    const namespaceOf = (name: string) => {
      const meta = current?.items.get(name)?.metadata;
      return meta && { annotations: meta.annotations ?? {}, labels: meta.labels ?? {} };
    };

    const { certificates, caBundle } = servingCertificates(config, ctx);
    await Promise.race([firstValueFrom(certificates), aborted]);
    const server = admissionWebhookServer(certificates, (request) => admissionPatch(request, injection, namespaceOf), ctx.log);
    const { host, port } = config.listenOn;
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host || undefined, resolve));
    ctx.lifecycle.onShutdown('https server', () => new Promise<void>((resolve) => server.close(() => resolve())));
    ctx.log.info('serving', { address: server.address() as AddressInfo, mode: config.webhookMode });

    if (config.webhookMode === 'selfregister') {
      const clientConfig = config.webhookUrl ? { url: config.webhookUrl.href } : { service: { namespace: config.namespace, name: config.serviceName } };
      await registerWebhook(client, webhookConfiguration(config.name, config.annotation, caBundle, clientConfig));
      ctx.log.info('registered', { mutatingWebhookConfiguration: config.name });
      ctx.lifecycle.onShutdown('mutating webhook configuration', () => unregisterWebhook(client, config.name));
    }
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  },
});

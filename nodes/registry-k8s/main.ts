import { defaultRegistryServerPolicies } from '../../operators/authorize/policies.js';
import { defaultRegistryClientPolicies } from '../../operators/authorize/authorizeRegistryClient.js';
import { k8sRegistry } from '../../operators/chains/registryK8s.js';
import { formatDuration } from '../../operators/tools/duration.js';
import { defineComponent } from '../cli/component.js';
import { serveRegistryUntilStopped } from '../cli/serveRegistry.js';
import { duration, optional, str, uint, url, urlList } from '../cli/config.js';
import { kubeFor } from '../cli/kube.js';
import { policies, securitySpec, startSecurity } from '../cli/security.js';

const spec = {
  namespace: str('NSM_NAMESPACE', 'default', 'Namespace the NetworkService and NetworkServiceEndpoint resources are written to (Find reads every namespace)'),
  listenOn: urlList('NSM_LISTEN_ON', 'unix:///listen.on.socket', 'URLs to serve the registries on (unix:///path, tcp://host:port)'),
  expirePeriod: duration('NSM_EXPIRE_PERIOD', '1m', 'How long an NSE stays registered without a refresh'),
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of the tokens this registry issues'),
  proxyRegistryUrl: optional(url('NSM_PROXY_REGISTRY_URL', '', 'Registry for interdomain names (name@domain): the nsmgr-proxy')),
  kubeletQps: uint('NSM_KUBELET_QPS', '205', 'Upstream: the Kubernetes client rate limit. Accepted; requests are not rate limited (one informer serves every Find)'),
  registryServerPolicies: policies('NSM_REGISTRY_SERVER_POLICIES', defaultRegistryServerPolicies, 'Policies every Register and Unregister must pass'),
  registryClientPolicies: policies('NSM_REGISTRY_CLIENT_POLICIES', defaultRegistryClientPolicies, 'Policies the proxy registry’s answers must pass'),
  ...securitySpec,
};

/**
 * `nsm-rx registry-k8s` (upstream cmd-registry-k8s): the NS and NSE registries kept as
 * NetworkService / NetworkServiceEndpoint custom resources (deploy/apps/registry-k8s/crd-*.yaml)
 * in NSM_NAMESPACE, through the Kubernetes API of the pod's service account or KUBECONFIG. NSEs
 * expire after NSM_EXPIRE_PERIOD unless refreshed.
 */
export const component = defineComponent({
  name: 'registry-k8s',
  summary: 'NS and NSE registries as Kubernetes custom resources (upstream cmd-registry-k8s)',
  spec,
  async run(config, ctx) {
    const security = await startSecurity({ ...config, name: 'registry' }, ctx);
    const pool = security.pool();
    const { client, informers } = kubeFor(ctx);
    const registry = k8sRegistry({
      client,
      informers,
      namespace: config.namespace,
      log: ctx.log,
      policies: security.enforce(config.registryServerPolicies),
      lifetime: config.expirePeriod,
      token: security.token,
      ...(config.proxyRegistryUrl ? { proxyRegistryUrl: config.proxyRegistryUrl, pool, clientPolicies: security.enforce(config.registryClientPolicies) } : {}),
    });
    await serveRegistryUntilStopped('registry-k8s', registry, config.listenOn, { security, pool, fields: { apiserver: client.server, namespace: config.namespace, expirePeriod: formatDuration(config.expirePeriod) } }, ctx);
  },
});

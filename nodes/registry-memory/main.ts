import { policies, securitySpec, startSecurity } from '../cli/security.js';
import { defaultRegistryServerPolicies } from '../../operators/authorize/policies.js';
import { defaultRegistryClientPolicies } from '../../operators/authorize/authorizeRegistryClient.js';
import { memoryRegistry } from '../../operators/chains/registry.js';
import { formatDuration } from '../../operators/tools/duration.js';
import { defineComponent } from '../cli/component.js';
import { serveRegistryUntilStopped } from '../cli/serveRegistry.js';
import { duration, optional, url, urlList } from '../cli/config.js';

const spec = {
  listenOn: urlList('NSM_LISTEN_ON', 'unix:///listen.on.socket', 'URLs to serve the registries on (unix:///path, tcp://host:port)'),
  expirePeriod: duration('NSM_EXPIRE_PERIOD', '1s', 'Upstream: period to check expired NSEs. Accepted; no effect (each NSE expires on its own timer); not the lifetime'),
  registrationLifetime: duration('NSM_REGISTRATION_LIFETIME', '1m', 'How long an NSE stays registered without a refresh (nsm-rx; upstream hard-codes 1m)'),
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of the tokens this registry issues'),
  proxyRegistryUrl: optional(url('NSM_PROXY_REGISTRY_URL', '', 'Registry for interdomain names (name@domain): the nsmgr-proxy')),
  registryServerPolicies: policies('NSM_REGISTRY_SERVER_POLICIES', defaultRegistryServerPolicies, 'Policies every Register and Unregister must pass'),
  registryClientPolicies: policies('NSM_REGISTRY_CLIENT_POLICIES', defaultRegistryClientPolicies, 'Policies the proxy registry’s answers must pass'),
  ...securitySpec,
};

/**
 * `nsm-rx registry-memory` (upstream cmd-registry-memory): the NS and NSE registries in memory,
 * served with gRPC health on every NSM_LISTEN_ON URL. NSEs expire after NSM_REGISTRATION_LIFETIME
 * (upstream: 1 min) unless refreshed; `name@domain` names go to NSM_PROXY_REGISTRY_URL (the nsmgr-proxy).
 */
export const component = defineComponent({
  name: 'registry-memory',
  summary: 'NS and NSE registries in memory (upstream cmd-registry-memory)',
  spec,
  async run(config, ctx) {
    const security = await startSecurity({ ...config, name: 'registry' }, ctx);
    const pool = security.pool();
    const registry = memoryRegistry({
      policies: security.enforce(config.registryServerPolicies),
      lifetime: config.registrationLifetime,
      token: security.token,
      ...(config.proxyRegistryUrl ? { proxyRegistryUrl: config.proxyRegistryUrl, pool, clientPolicies: security.enforce(config.registryClientPolicies) } : {}),
    });
    ctx.metrics?.gauge('nsm_registry_network_services', 'Network services in the registry', () => registry.stores.ns.size);
    ctx.metrics?.gauge('nsm_registry_network_service_endpoints', 'Network service endpoints in the registry (forwarders included)', () => registry.stores.nse.size);
    await serveRegistryUntilStopped('registry-memory', registry, config.listenOn, { security, pool, fields: { registrationLifetime: formatDuration(config.registrationLifetime) } }, ctx);
  },
});

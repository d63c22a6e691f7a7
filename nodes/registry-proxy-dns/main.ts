import { defaultRegistryServerPolicies } from '../../operators/authorize/policies.js';
import { defaultRegistryClientPolicies } from '../../operators/authorize/authorizeRegistryClient.js';
import { registryProxyDns } from '../../operators/chains/registryProxyDns.js';
import { RESOLV_CONF, resolverFromFile } from '../../streams/dns/resolvConf.js';
import { defineComponent } from '../cli/component.js';
import { serveRegistryUntilStopped } from '../cli/serveRegistry.js';
import { duration, str, urlList } from '../cli/config.js';
import { policies, securitySpec, startSecurity } from '../cli/security.js';

const spec = {
  listenOn: urlList('NSM_LISTEN_ON', 'unix:///listen.on.socket', 'URLs to serve the registries on (tcp://:5005 in upstream’s deployment)'),
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of the tokens this proxy issues'),
  registryServerPolicies: policies('NSM_REGISTRY_SERVER_POLICIES', defaultRegistryServerPolicies, 'Policies every Register and Unregister must pass'),
  registryClientPolicies: policies('NSM_REGISTRY_CLIENT_POLICIES', defaultRegistryClientPolicies, 'Policies the other domains’ registries’ answers must pass'),
  dialTimeout: duration('NSM_DIAL_TIMEOUT', '5s', 'nsm-rx: dial timeout toward another domain’s registry'),
  resolvConf: str('NSM_RESOLV_CONF', RESOLV_CONF, 'nsm-rx: the resolver configuration whose name servers find other domains (upstream: the system resolver)'),
  ...securitySpec,
};

/**
 * `nsm-rx registry-proxy-dns` (upstream cmd-registry-proxy-dns): forwards `name@domain`
 * registry calls to the registry of `domain`, found through DNS (SRV and A/AAAA of
 * `registry.nsm-system.<domain>`; endpoints get `nsmgr-proxy.nsm-system.<domain>` as their URL).
 */
export const component = defineComponent({
  name: 'registry-proxy-dns',
  summary: 'forwards name@domain registry calls to that domain’s registry, found through DNS (upstream cmd-registry-proxy-dns)',
  spec,
  async run(config, ctx) {
    const { resolver, servers } = await resolverFromFile(config.resolvConf);
    const security = await startSecurity({ ...config, name: 'registry-proxy-dns' }, ctx);
    const pool = security.pool();
    const proxy = registryProxyDns({
      token: security.token,
      resolver,
      pool,
      dialTimeout: config.dialTimeout,
      policies: { server: security.enforce(config.registryServerPolicies), client: security.enforce(config.registryClientPolicies) },
      logger: ctx.log,
    });
    await serveRegistryUntilStopped('registry-proxy-dns', proxy, config.listenOn, { security, pool, fields: { nameServers: servers } }, ctx);
  },
});

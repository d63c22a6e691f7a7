import { networkInterfaces } from 'node:os';
import { defaultRegistryClientPolicies } from '../../operators/authorize/authorizeRegistryClient.js';
import { defaultRegistryServerPolicies, defaultServerPolicies } from '../../operators/authorize/policies.js';
import { nsmgrProxy } from '../../operators/chains/nsmgrProxy.js';
import { CLUSTER_INFO_FILE } from '../../operators/networkservice/clusterInfo.js';
import type { IpMap } from '../../operators/networkservice/swapIp.js';
import { publicUrl as advertisedUrl } from '../../operators/tools/listenOnUrl.js';
import { serveNetworkService } from '../../streams/grpc/networkService.js';
import { serveRegistries } from '../../streams/grpc/registry.js';
import { latestOf } from '../../streams/latest.js';
import { watchedFile } from '../../streams/watchedFile.js';
import { parseStringMap } from '../../streams/yamlMap.js';
import { inodeUrlOfFile } from '../../dataplane/kernel/netns.js';
import { defineComponent } from '../cli/component.js';
import { duration, str, url, urlList } from '../cli/config.js';
import { policies, securitySpec, startSecurity } from '../cli/security.js';
import type { Logger } from '../../operators/tools/log.js';

const spec = {
  name: str('NSM_NAME', 'nsmgr-proxy', 'Name of the nsmgr-proxy (its path segment name)'),
  listenOn: urlList('NSM_LISTEN_ON', 'unix:///listen.on.socket', 'URLs to serve on; the first tcp URL (through the map-ip map) is what other domains dial'),
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of the tokens this proxy issues'),
  registryUrl: url('NSM_REGISTRY_URL', '', 'This domain’s registry (required; registry:5002 in upstream’s deployment)'),
  registryProxyUrl: url('NSM_REGISTRY_PROXY_URL', '', 'The registry-proxy-dns, for name@domain registry calls (required; registry-proxy:5005 in upstream’s deployment)'),
  mapIpFilePath: str('NSM_MAP_IP_FILE_PATH', 'map-ip.yaml', 'YAML map of internal → external addresses (map-ip-k8s writes it; watched)'),
  clusterInfoFile: str('NSM_CLUSTER_INFO_FILE', CLUSTER_INFO_FILE, 'nsm-rx: the cluster-info properties to label connections and NSEs with (upstream: fixed path)'),
  dialTimeout: duration('NSM_DIAL_TIMEOUT', '5s', 'nsm-rx: dial timeout toward the next hop and the registries'),
  serverPolicies: policies('NSM_SERVER_POLICIES', defaultServerPolicies, 'Policies every Request and Close must pass'),
  registryServerPolicies: policies('NSM_REGISTRY_SERVER_POLICIES', defaultRegistryServerPolicies, 'Policies every Register and Unregister must pass'),
  registryClientPolicies: policies('NSM_REGISTRY_CLIENT_POLICIES', defaultRegistryClientPolicies, 'Policies the registries’ answers must pass'),
  ...securitySpec,
};

/** A watched `key: value` YAML file as its latest map (empty while missing; a bad edit keeps the last good one). */
function stringMapFile(path: string, what: string, log: Logger) {
  return latestOf<IpMap>(watchedFile({ path, parse: parseStringMap, empty: {}, same: (a, b) => JSON.stringify(a) === JSON.stringify(b), onError: (e) => log.warn(what, { error: e.message }) }), {});
}

/**
 * `nsm-rx nsmgr-proxy` (upstream cmd-nsmgr-proxy): the hop between domains. Serves
 * NetworkService, MonitorConnection and both registries: Requests for another domain's endpoints
 * go to that domain's nsmgr-proxy, Requests from other domains to this domain's nsmgr; NSE
 * registrations and Finds of `name@domain` go to the registry-proxy-dns with this proxy's URL.
 */
export const component = defineComponent({
  name: 'nsmgr-proxy',
  summary: 'the hop between domains: interdomain Requests and registrations (upstream cmd-nsmgr-proxy)',
  spec,
  async run(config, ctx) {
    const listenUrl = advertisedUrl(config.listenOn, networkInterfaces());
    if (listenUrl?.scheme !== 'tcp') throw new Error('NSM_LISTEN_ON names no tcp URL: other domains reach the nsmgr-proxy over TCP (e.g. tcp://:5004)');
    const ips = stringMapFile(config.mapIpFilePath, 'map-ip file', ctx.log);
    const labels = stringMapFile(config.clusterInfoFile, 'cluster-info file', ctx.log);
    const security = await startSecurity(config, ctx);
    const pool = security.pool();
    const registryPool = security.pool();
    const proxy = nsmgrProxy({
      name: config.name,
      url: listenUrl,
      registryUrl: config.registryUrl,
      registryProxyUrl: config.registryProxyUrl,
      pool,
      registryPool,
      token: security.token,
      ips: ips.latest$,
      clusterLabels: labels.latest$,
      dialTimeout: config.dialTimeout,
      policies: { server: security.enforce(config.serverPolicies), registryServer: security.enforce(config.registryServerPolicies), registryClient: security.enforce(config.registryClientPolicies) },
      inodeUrlOf: inodeUrlOfFile,
      logger: ctx.log,
    });
    const server = security.server();
    serveNetworkService(server, proxy.endpoint.handler, proxy.endpoint.monitor);
    serveRegistries(server, proxy.ns, proxy.nse);
    const urls = await server.listen(config.listenOn);
    ctx.log.info('serving', { urls: urls.map((u) => u.href), url: listenUrl.href, registry: config.registryUrl.href, registryProxy: config.registryProxyUrl.href });
    ctx.lifecycle.onShutdown('nsmgr-proxy', async () => {
      proxy.dispose();
      proxy.endpoint.state.metadata.dispose();
      ips.dispose();
      labels.dispose();
      await server.stop(1000);
      pool.closeAll();
      registryPool.closeAll();
      security.stop();
    });
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  },
});

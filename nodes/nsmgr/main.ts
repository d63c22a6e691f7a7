import { networkInterfaces } from 'node:os';
import { monitorPolicies, policies, registryClientPolicies, securitySpec, startSecurity } from '../cli/security.js';
import { defaultServerPolicies, defaultRegistryServerPolicies } from '../../operators/authorize/policies.js';
import { authorizeMonitor } from '../../operators/authorize/authorizeMonitor.js';
import { nsmgr } from '../../operators/chains/nsmgr.js';
import { chain } from '../../operators/core/networkservice.js';
import { admission } from '../../operators/networkservice/admission.js';
import { publicUrl as advertisedUrl } from '../../operators/tools/listenOnUrl.js';
import { excludedPrefixesFile, EXCLUDED_PREFIXES_FILE } from '../../streams/excludedPrefixesFile.js';
import { serveNetworkService } from '../../streams/grpc/networkService.js';
import { serveRegistries } from '../../streams/grpc/registry.js';
import { preDialForwarders } from './preDialForwarders.js';
import { defineComponent } from '../cli/component.js';
import { bool, duration, optional, str, uint, url, urlList } from '../cli/config.js';
import { inodeUrlOfFile } from '../../dataplane/kernel/netns.js';

export const spec = {
  name: str('NSM_NAME', 'nmgr', 'Name of the nsmgr (its path segment name)'),
  listenOn: urlList('NSM_LISTEN_ON', 'unix:///var/lib/networkservicemesh/nsm.io.sock', 'URLs to serve on; the first tcp URL is the one other nodes reach (tcp://:port: with the first non-loopback interface address)'),
  registryUrl: optional(url('NSM_REGISTRY_URL', 'tcp://localhost:5001', 'The registry; empty keeps an in-process registry')),
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of the tokens this nsmgr issues'),
  dialTimeout: duration('NSM_DIAL_TIMEOUT', '750ms', 'Dial timeout toward forwarders and the registry'),
  reselectUnreachableForwarder: bool(
    'NSM_RESELECT_UNREACHABLE_FORWARDER',
    'true',
    'nsm-rx: a stored forwarder that cannot be dialed is replaced by another; false fails the Request until the client reselects, as upstream',
  ),
  maxRequestsInFlight: uint(
    'NSM_MAX_REQUESTS_IN_FLIGHT',
    '200',
    'nsm-rx: Requests handled at once; more wait their turn for up to half their time left, then are answered RESOURCE_EXHAUSTED (0: no bound, as upstream)',
  ),
  forwarderServiceName: str('NSM_FORWARDER_NETWORK_SERVICE_NAME', 'forwarder', 'Network service forwarders register as'),
  serverPolicies: policies('NSM_SERVER_POLICIES', defaultServerPolicies, 'Policies every Request and Close must pass'),
  registryServerPolicies: policies('NSM_REGISTRY_SERVER_POLICIES', defaultRegistryServerPolicies, 'Policies every Register and Unregister must pass'),
  monitorPolicies,
  registryClientPolicies,
  ...securitySpec,
  excludedPrefixesFile: str('NSM_EXCLUDED_PREFIXES_FILE', EXCLUDED_PREFIXES_FILE, 'YAML file of prefixes IPAM must not use (watched)'),
};

/**
 * `nsm-rx nsmgr` (upstream cmd-nsmgr): serves NetworkService, MonitorConnection and both
 * registries on every NSM_LISTEN_ON URL; registrations of local NSEs and forwarders go to the
 * registry under this nsmgr's URL (localBypass); Requests go to a local forwarder
 * (discoverForwarder). NODE_NAME, POD_NAME and CLUSTER_NAME label connections and NSEs.
 */
export const component = defineComponent({
  name: 'nsmgr',
  summary: 'the node manager: forwarder selection, registry proxy, monitor (upstream cmd-nsmgr)',
  spec,
  async run(config, ctx) {
    const publicUrl = advertisedUrl(config.listenOn, networkInterfaces());
    if (publicUrl === undefined) throw new Error('NSM_LISTEN_ON names no URL');
    const security = await startSecurity(config, ctx);
    const pool = security.pool();
    const server = security.server();
    // The public URL must be known before serving: a tcp port 0 cannot be advertised.
    const manager = nsmgr({
      name: config.name,
      url: publicUrl,
      ...(config.registryUrl ? { registryUrl: config.registryUrl } : {}),
      pool,
      token: security.token,
      inodeUrlOf: inodeUrlOfFile,
      policies: { server: security.enforce(config.serverPolicies), registryServer: security.enforce(config.registryServerPolicies), registryClient: security.enforce(config.registryClientPolicies) },
      forwarderServiceName: config.forwarderServiceName,
      reselectUnreachableForwarder: config.reselectUnreachableForwarder,
      excludedPrefixes: excludedPrefixesFile({ path: config.excludedPrefixesFile, onError: (e) => ctx.log.warn('excluded prefixes', { error: String(e) }) }),
      dialTimeout: config.dialTimeout,
      env: ctx.env,
      logger: ctx.log,
      ...(ctx.metrics ? { metrics: ctx.metrics } : {}),
    });
    // Only what arrives over gRPC is bounded: refresh, heal and timeout re-enter the chain inside.
    const admitted = chain([admission({ maxInFlight: config.maxRequestsInFlight, name: config.name, setting: 'NSM_MAX_REQUESTS_IN_FLIGHT' })], manager.endpoint.handler);
    serveNetworkService(server, admitted, manager.endpoint.monitor, security.enforce(config.monitorPolicies).length ? authorizeMonitor(manager.endpoint.owners) : undefined);
    serveRegistries(server, manager.ns, preDialForwarders(manager.nse, pool, config.forwarderServiceName, config.dialTimeout));
    const urls = await server.listen(config.listenOn);
    ctx.log.info('serving', { urls: urls.map((u) => u.href), publicUrl: publicUrl.href, registry: config.registryUrl?.href ?? 'in-process' });
    ctx.lifecycle.onShutdown('nsmgr', async () => {
      manager.dispose();
      manager.endpoint.state.metadata.dispose();
      await server.stop(1000);
      pool.closeAll();
      security.stop();
    });
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  },
});

import { monitorPolicies, policies, registryClientPolicies, securitySpec, startSecurity } from '../cli/security.js';
import { defaultServerPolicies } from '../../operators/authorize/policies.js';
import { endpoint } from '../../operators/chains/endpoint.js';
import { dnsContextServer, parseDnsConfigs } from '../../operators/networkservice/dnsContext.js';
import { idleTimeout } from '../../operators/networkservice/idleTimeout.js';
import { mechanisms } from '../../operators/networkservice/mechanisms.js';
import { kernelMechanismServer } from '../../operators/networkservice/kernelMechanismServer.js';
import { ownNetnsUrl } from '../../dataplane/kernel/netns.js';
import { ipamForPolicy } from '../../operators/networkservice/ipamPolicy.js';
import { parseCidrGroups } from '../../operators/tools/cidrGroups.js';
import { policyRoutes } from '../../operators/networkservice/policyRoutes.js';
import { PBR_CONFIG_PATH, policyRoutesFile } from '../../streams/policyRoutesFile.js';
import { defineComponent } from '../cli/component.js';
import { serveEndpoint } from '../cli/serveEndpoint.js';
import { bool, duration, list, map, oneOf, str, url, variable } from '../cli/config.js';

const spec = {
  name: str('NSM_NAME', 'icmp-server', 'Name of the endpoint (NSE name and path segment)'),
  connectTo: url('NSM_CONNECT_TO', 'unix:///var/lib/networkservicemesh/nsm.io.sock', 'The nsmgr to register through'),
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of the tokens this endpoint issues'),
  serviceNames: list('NSM_SERVICE_NAMES', 'icmp-responder', 'Network services this endpoint provides'),
  payload: str('NSM_PAYLOAD', 'ETHERNET', 'Payload of the registered network services (IP or ETHERNET)'),
  labels: map('NSM_LABELS', '', 'Labels of this endpoint for every service (k1:v1,k2:v2)'),
  cidrPrefix: variable({
    env: 'NSM_CIDR_PREFIX',
    def: '169.254.0.0/16',
    description: 'Address pools: CIDRs, groups in brackets ([a,b],c), dual stack (v4,v6)',
    kind: 'cidr groups',
    expected: 'CIDRs such as 169.254.0.0/16, groups like [10.0.0.0/24,10.0.1.0/24],fd00::/120',
    parse: parseCidrGroups,
  }),
  ipamPolicy: oneOf('NSM_IPAM_POLICY', ['polite', 'strict'], 'polite', 'strict: client addresses outside the pools are replaced', { caseInsensitive: true }),
  dnsConfigs: variable({
    env: 'NSM_DNS_CONFIGS',
    def: '[]',
    description: 'DNS configs handed to clients (JSON array of {dns_server_ips, search_domains})',
    kind: 'json',
    expected: 'a JSON array such as [{"dns_server_ips":["10.0.0.1"],"search_domains":["my.domain"]}]',
    parse: parseDnsConfigs,
  }),
  idleTimeout: duration('NSM_IDLE_TIMEOUT', '0', 'Exit after this long without connections (0: never)'),
  registerService: bool('NSM_REGISTER_SERVICE', 'true', 'Register the network services too'),
  unregisterItself: bool('NSM_UNREGISTER_ITSELF', 'false', 'Unregister the endpoint on exit'),
  pbrConfigPath: str('NSM_PBR_CONFIG_PATH', PBR_CONFIG_PATH, 'Policy-based routing file: a YAML list of {from, proto, dstport, srcport, routes: [{prefix, nexthop}]}, handed to clients (watched)'),
  baseDir: str('NSM_BASE_DIR', './', 'Base directory (declared but unused upstream too)'),
  serverPolicies: policies('NSM_SERVER_POLICIES', defaultServerPolicies, 'Policies every Request and Close must pass'),
  monitorPolicies,
  registryClientPolicies,
  ...securitySpec,
};

/**
 * `nsm-rx nse-icmp-responder` (upstream cmd-nse-icmp-responder, control plane): serves on a unix
 * socket of its own, registers its services and itself through its nsmgr (refreshed), and hands
 * every client a point-to-point pair of addresses from NSM_CIDR_PREFIX (NSE first, then the
 * client: 172.16.1.100/31 → NSE .100, client .101), the DNS configs and a KERNEL mechanism
 * naming its own netns, where a kernel forwarder puts its interface with the NSE address, and the
 * policy routes of NSM_PBR_CONFIG_PATH (re-read when the file changes, carried by each refresh).
 */
export const component = defineComponent({
  name: 'nse-icmp-responder',
  summary: 'an endpoint handing out point-to-point addresses (upstream cmd-nse-icmp-responder)',
  spec,
  async run(config, ctx) {
    // Upstream's idle timeout: no connection for that long and the endpoint shuts itself down.
    const idle =
      config.idleTimeout > 0
        ? idleTimeout({ timeout: config.idleTimeout, onIdle: () => void ctx.lifecycle.shutdown(`idle for ${config.idleTimeout} ms (NSM_IDLE_TIMEOUT)`, 0) })
        : undefined;
    const security = await startSecurity(config, ctx);
    const pbr = policyRoutes(policyRoutesFile({ path: config.pbrConfigPath, onError: (e) => ctx.log.warn('policy routes', { error: e.message }) }));
    const hop = endpoint({
      name: config.name,
      token: security.token,
      policies: security.enforce(config.serverPolicies),
      additional: [...(idle ? [idle] : []), ipamForPolicy(config.ipamPolicy, config.cidrPrefix), pbr, dnsContextServer(config.dnsConfigs), mechanisms({ KERNEL: [kernelMechanismServer(ownNetnsUrl)], NOOP: [] })],
    });
    await serveEndpoint(hop, config, security, ctx, {
      stop: () => {
        idle?.dispose();
        pbr.dispose();
      },
    });
  },
});

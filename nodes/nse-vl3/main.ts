import { writeFile } from 'node:fs/promises';
import { Context } from '../../operators/core/context.js';
import { defaultServerPolicies } from '../../operators/authorize/policies.js';
import { endpoint } from '../../operators/chains/endpoint.js';
import { kernelMechanismServer } from '../../operators/networkservice/kernelMechanismServer.js';
import { mechanisms } from '../../operators/networkservice/mechanisms.js';
import { vl3Server } from '../../operators/networkservice/vl3Server.js';
import { Vl3Ipam } from '../../operators/tools/vl3Ipam.js';
import { managePrefixesCall } from '../../streams/grpc/ipam.js';
import { vl3Prefix } from '../../streams/vl3Prefix.js';
import { ownNetnsUrl } from '../../dataplane/kernel/netns.js';
import { defineComponent } from '../cli/component.js';
import { bool, duration, list, map, str, unsupported, url } from '../cli/config.js';
import { serveEndpoint } from '../cli/serveEndpoint.js';
import { monitorPolicies, policies, registryClientPolicies, securitySpec, startSecurity } from '../cli/security.js';

const spec = {
  name: str('NSM_NAME', 'vL3-server', 'Name of the endpoint (NSE name and path segment)'),
  connectTo: url('NSM_CONNECT_TO', 'unix:///var/lib/networkservicemesh/nsm.io.sock', 'The nsmgr to register through'),
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of the tokens this endpoint issues'),
  serviceNames: list('NSM_SERVICE_NAMES', 'vL3', 'Network services this endpoint provides'),
  payload: str('NSM_PAYLOAD', 'IP', 'Payload of the registered network services'),
  labels: map('NSM_LABELS', '', 'Labels of this endpoint for every service (k1:v1,k2:v2)'),
  prefixServerUrl: url('NSM_PREFIX_SERVER_URL', 'vl3-ipam:5006', 'The vl3 prefix server (nsm-rx ipam-vl3)'),
  registerService: bool('NSM_REGISTER_SERVICE', 'true', 'Register the network services too'),
  unregisterItself: bool('NSM_UNREGISTER_ITSELF', 'true', 'Unregister the endpoint on exit'),
  // Upstream's variables for what is still to come here (issue 17): at their defaults they change nothing.
  dnsTemplates: unsupported('NSM_DNS_TEMPLATES', '{{ index .Labels "podName" }}.{{ .NetworkService }}.', 'vl3 DNS is not implemented yet'),
  requestLabels: unsupported('NSM_REQUEST_LABELS', '', 'connections to the other vl3 NSEs are not implemented yet'),
  dialTimeout: unsupported('NSM_DIAL_TIMEOUT', '5s', 'connections to the other vl3 NSEs are not implemented yet'),
  requestTimeout: unsupported('NSM_REQUEST_TIMEOUT', '15s', 'connections to the other vl3 NSEs are not implemented yet'),
  livenessCheckEnabled: unsupported('NSM_LIVENESS_CHECK_ENABLED', 'true', 'connections to the other vl3 NSEs are not implemented yet'),
  livenessCheckInterval: unsupported('NSM_LIVENESS_CHECK_INTERVAL', '1200ms', 'connections to the other vl3 NSEs are not implemented yet'),
  livenessCheckTimeout: unsupported('NSM_LIVENESS_CHECK_TIMEOUT', '1s', 'connections to the other vl3 NSEs are not implemented yet'),
  idleTimeout: unsupported('NSM_IDLE_TIMEOUT', '0', 'a vl3 NSE serves until stopped'),
  listenOn: unsupported('NSM_LISTEN_ON', 'listen.on.sock', 'it serves on a socket in a temp dir of its own, as upstream by default'),
  serverPolicies: policies('NSM_SERVER_POLICIES', defaultServerPolicies, 'Policies every Request and Close must pass'),
  monitorPolicies,
  registryClientPolicies,
  ...securitySpec,
};

/** Packets between clients pass through the NSE's network namespace. */
async function forwardInOwnNetns(warn: (msg: string, fields: Record<string, unknown>) => void): Promise<void> {
  for (const knob of ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv6/conf/all/forwarding']) {
    await writeFile(knob, '1').catch((e: unknown) => warn('cannot turn forwarding on: clients reach the NSE but not each other', { knob, error: String(e) }));
  }
}

/**
 * `nsm-rx nse-vl3` (upstream cmd-nse-vl3-vpp, on the kernel datapath): holds a prefix of the
 * vl3 network from ipam-vl3 (NSM_PREFIX_SERVER_URL; asking for the same one when the stream
 * reconnects), takes the prefix's first address, and gives every client a host address from the
 * rest with routes to the whole vl3 network through the NSE, whose namespace forwards between its
 * clients' interfaces. A new prefix makes the clients' next Requests move. Connections to the
 * other vl3 NSEs of the service (upstream's full mesh) and vl3 DNS are still to come (issue 17).
 */
export const component = defineComponent({
  name: 'nse-vl3',
  summary: 'a vl3 endpoint: one flat L3 network for every client of its service (upstream cmd-nse-vl3-vpp, kernel datapath)',
  spec,
  async run(config, ctx) {
    await forwardInOwnNetns((msg, fields) => ctx.log.warn(msg, fields));
    const security = await startSecurity(config, ctx);
    const ipam = new Vl3Ipam();
    const prefixPool = security.pool();
    const channel = prefixPool.acquire(config.prefixServerUrl);
    const prefixes = vl3Prefix((requests) => managePrefixesCall(channel, requests, Context.background)).subscribe((answer) => {
      ipam.reset(answer.prefix, answer.excludePrefixes);
      ctx.log.info('vl3 prefix', { prefix: answer.prefix, address: ipam.selfAddress() });
    });
    const hop = endpoint({
      name: config.name,
      token: security.token,
      policies: security.enforce(config.serverPolicies),
      additional: [vl3Server(ipam), mechanisms({ KERNEL: [kernelMechanismServer(ownNetnsUrl)], NOOP: [] })],
    });
    await serveEndpoint(hop, config, security, ctx, () => {
      prefixes.unsubscribe();
      channel.release();
      prefixPool.closeAll();
    });
  },
});

import { writeFile } from 'node:fs/promises';
import { asyncScheduler } from 'rxjs';
import { Context } from '../../operators/core/context.js';
import { messageOf } from '../../operators/core/errors.js';
import { defaultServerPolicies } from '../../operators/authorize/policies.js';
import { client } from '../../operators/chains/client.js';
import { endpoint } from '../../operators/chains/endpoint.js';
import { kernelMechanismServer } from '../../operators/networkservice/kernelMechanismServer.js';
import { mechanisms } from '../../operators/networkservice/mechanisms.js';
import { retryClient } from '../../operators/networkservice/retry.js';
import { strictVl3Ipam } from '../../operators/networkservice/strictVl3Ipam.js';
import { upstreamRefresh } from '../../operators/networkservice/upstreamRefresh.js';
import { vl3Client } from '../../operators/networkservice/vl3Client.js';
import { vl3DnsClient } from '../../operators/networkservice/vl3DnsClient.js';
import { vl3DnsServer } from '../../operators/networkservice/vl3DnsServer.js';
import { vl3MtuClient } from '../../operators/networkservice/vl3MtuClient.js';
import { vl3MtuServer } from '../../operators/networkservice/vl3MtuServer.js';
import { vl3Server } from '../../operators/networkservice/vl3Server.js';
import { parseDnsTemplate, type DnsTemplate } from '../../operators/tools/dnsTemplate.js';
import { Vl3Dns } from '../../operators/tools/vl3Dns.js';
import { Vl3Ipam } from '../../operators/tools/vl3Ipam.js';
import { serveVl3Dns } from '../../streams/dns/vl3Dns.js';
import { managePrefixesCall } from '../../streams/grpc/ipam.js';
import { ConnectionMonitor } from '../../streams/monitorConnections.js';
import { vl3Peers } from '../../streams/vl3Peers.js';
import { vl3Prefix } from '../../streams/vl3Prefix.js';
import { inodeUrlOfFile, ownNetnsUrl } from '../../dataplane/kernel/netns.js';
import { defineComponent, type RunContext } from '../cli/component.js';
import { bool, duration, list, map, splitList, str, unsupported, url, variable } from '../cli/config.js';
import { serveEndpoint } from '../cli/serveEndpoint.js';
import { monitorPolicies, policies, registryClientPolicies, securitySpec, startSecurity } from '../cli/security.js';
import { connectToPeers, peerRequest } from './peers.js';

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
  dnsTemplates: variable<DnsTemplate[]>({
    env: 'NSM_DNS_TEMPLATES',
    def: '{{ index .Labels "podName" }}.{{ .NetworkService }}.',
    description: 'How the vl3 DNS names each client: Go templates over its connection, comma-separated',
    kind: 'list',
    expected: 'comma-separated Go templates such as {{ index .Labels "podName" }}.{{ .NetworkService }}.',
    parse: (s) => splitList(s).map(parseDnsTemplate),
    zero: () => [],
  }),
  requestLabels: map('NSM_REQUEST_LABELS', '', 'Labels of the connections to the other vl3 NSEs (k1:v1,k2:v2)'),
  dialTimeout: duration('NSM_DIAL_TIMEOUT', '5s', 'Timeout to dial the nsmgr'),
  requestTimeout: duration('NSM_REQUEST_TIMEOUT', '15s', 'Time budget of one try of a Request to another vl3 NSE, and of a Close'),
  // Upstream's vl3 client has no heal, so these change nothing there either.
  livenessCheckEnabled: unsupported('NSM_LIVENESS_CHECK_ENABLED', 'true', 'connections between vl3 NSEs are not healed (upstream: no heal either)'),
  livenessCheckInterval: unsupported('NSM_LIVENESS_CHECK_INTERVAL', '1200ms', 'connections between vl3 NSEs are not healed (upstream: no heal either)'),
  livenessCheckTimeout: unsupported('NSM_LIVENESS_CHECK_TIMEOUT', '1s', 'connections between vl3 NSEs are not healed (upstream: no heal either)'),
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

/** The vl3 DNS server on port 53 of the NSE's netns (upstream vl3dns: `:53`); without it the NSE goes on, logged. */
async function startDns(dns: Vl3Dns, ctx: RunContext): Promise<(() => Promise<void>) | undefined> {
  const server = await serveVl3Dns(dns, { host: '0.0.0.0', port: 53 }).catch(
    (e: unknown) => void ctx.log.error('vl3 DNS server not started', { address: '0.0.0.0:53', error: messageOf(e) }),
  );
  return server && (() => server.close());
}

/**
 * `nsm-rx nse-vl3` (upstream cmd-nse-vl3-vpp, on the kernel datapath): holds a prefix of the
 * vl3 network from ipam-vl3 (NSM_PREFIX_SERVER_URL; asking for the same one when the stream
 * reconnects), takes the prefix's first address, and gives every client a host address from the
 * rest with routes to the whole vl3 network through the NSE, whose namespace forwards between its
 * clients' interfaces and its peers'. Peers: every other NSE of the service registered before it
 * gets a connection from it (vl3Peers over a Find watch through its nsmgr), carrying routes to
 * each side's prefix; later ones connect to it. vl3 DNS: each client is named by NSM_DNS_TEMPLATES
 * on the DNS server at the NSE's address, which asks the peers' for names it does not know.
 */
export const component = defineComponent({
  name: 'nse-vl3',
  summary: 'a vl3 endpoint: one flat L3 network for every client of its service (upstream cmd-nse-vl3-vpp, kernel datapath)',
  spec,
  async run(config, ctx) {
    const scheduler = asyncScheduler;
    await forwardInOwnNetns((msg, fields) => ctx.log.warn(msg, fields));
    const security = await startSecurity(config, ctx);
    const ipam = new Vl3Ipam();
    const dns = new Vl3Dns(config.dnsTemplates);
    const stopDns = await startDns(dns, ctx);
    const pool = security.pool();
    const channel = pool.acquire(config.prefixServerUrl);
    const prefixes = vl3Prefix((requests) => managePrefixesCall(channel, requests, Context.background)).subscribe((answer) => {
      ipam.reset(answer.prefix, answer.excludePrefixes);
      dns.setServerIp(ipam.selfIp());
      ctx.log.info('vl3 prefix', { prefix: answer.prefix, address: ipam.selfAddress() });
    });
    const connections = new ConnectionMonitor();
    const hop = endpoint({
      name: config.name,
      token: security.token,
      policies: security.enforce(config.serverPolicies),
      monitor: connections,
      additional: [vl3DnsServer(dns, connections), vl3MtuServer(connections), strictVl3Ipam(ipam), vl3Server(ipam, { logger: ctx.log }), mechanisms({ KERNEL: [kernelMechanismServer(ownNetnsUrl)], NOOP: [] })],
    });
    // Upstream's vl3 client: no heal; upstream refresh with local notifications for the MTU.
    const peerClient = client({
      name: config.name,
      pool,
      url: config.connectTo,
      dialTimeout: config.dialTimeout,
      token: security.token,
      inodeUrlOf: inodeUrlOfFile,
      additional: [upstreamRefresh({ scheduler, localNotifications: true, logger: ctx.log }), vl3MtuClient(), vl3Client(ipam), vl3DnsClient(dns)],
      scheduler,
    });
    const peerHandler = retryClient(peerClient.handler, { scheduler, tryTimeout: config.requestTimeout, interval: 1000, onRetry: (e) => ctx.log.debug('vl3 peer request failed, retrying', { error: messageOf(e) }) });
    let peers: { stop(): Promise<void> } | undefined;
    await serveEndpoint(hop, config, security, ctx, {
      serving: (registry) => {
        const request = { self: config.name, networkService: config.serviceNames[0] ?? 'vL3', labels: config.requestLabels, netnsUrl: ownNetnsUrl() };
        peers = connectToPeers(vl3Peers(registry.nse.find, config.serviceNames, config.name), peerHandler, (peer) => peerRequest(peer, request), {
          closeTimeout: config.requestTimeout,
          log: ctx.log,
          now: () => scheduler.now(),
        });
      },
      stop: async () => {
        await peers?.stop();
        peerClient.state.metadata.dispose();
        prefixes.unsubscribe();
        channel.release();
        pool.closeAll();
        await stopDns?.();
      },
    });
  },
});

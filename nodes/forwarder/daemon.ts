import { monitorPolicies, policies, registryClientPolicies, securitySpec, startSecurity } from '../cli/security.js';
import { defaultServerPolicies } from '../../operators/authorize/policies.js';
import { authorizeMonitor } from '../../operators/authorize/authorizeMonitor.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncScheduler, lastValueFrom } from 'rxjs';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { forwarder } from '../../operators/chains/forwarder.js';
import { registryClient } from '../../operators/chains/registryClient.js';
import { Context } from '../../operators/core/context.js';
import { unixUrl } from '../../operators/tools/nsmUrl.js';
import type { Datapath } from '../../dataplane/datapath.js';
import { serveNetworkService } from '../../streams/grpc/networkService.js';
import { registryViews } from '../../streams/registryViews.js';
import type { RunContext } from '../cli/component.js';
import { logRetry, untilShutdown } from '../cli/startupRegister.js';
import { duration, InvalidValue, list, map, optional, str, uint, unsupported, url, variable, type ConfigOf } from '../cli/config.js';
import { isIP } from 'node:net';
import { inodeUrlOfFile } from '../../dataplane/kernel/netns.js';
import { defaultRouteIp } from '../../dataplane/kernel/host.js';
import { warmNextHops, warmUp } from './warmUp.js';

/** What every forwarder daemon reads (upstream cmd-forwarder-vpp's names and defaults; -ovs's extra ones refused by name). */
export const forwarderSpec = {
  name: str('NSM_NAME', 'forwarder', 'Name of the forwarder (its NSE name and path segment)'),
  labels: map('NSM_LABELS', 'p2p:true', 'Labels of its registration; nsmgrs select forwarders by them'),
  nsName: str('NSM_NSNAME', 'forwarder', 'Network service the forwarder registers under'),
  connectTo: url('NSM_CONNECT_TO', 'unix:///connect.to.socket', 'The nsmgr to register through (and discover endpoints with)'),
  listenOn: optional(url('NSM_LISTEN_ON', 'unix:///listen.on.socket', 'Where to serve ("": a unix socket in a new temp dir, as cmd-forwarder-ovs)')),
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of the tokens this forwarder issues'),
  dialTimeout: duration('NSM_DIAL_TIMEOUT', '750ms', 'Dial timeout toward the next hop'),
  mechanismPriority: list('NSM_MECHANISM_PRIORITY', '', 'Mechanism types to offer the next hop first, in order (e.g. vxlan,wireguard)'),
  serverPolicies: policies('NSM_SERVER_POLICIES', defaultServerPolicies, 'Policies every Request and Close must pass'),
  monitorPolicies,
  registryClientPolicies,
  ...securitySpec,
  // Declared by cmd-forwarder-vpp for what nsm-rx's forwarders do not have: accepted at upstream's
  // default (so a copied deployment starts), refused by name otherwise.
  vppApiSocket: unsupported('NSM_VPP_API_SOCKET', '/var/run/vpp/external/vpp-api.sock', 'there is no VPP: the datapath is the kernel (or none)'),
  vppInit: unsupported('NSM_VPP_INIT', 'AF_PACKET', 'there is no VPP to initialise'),
  vppInitParams: unsupported('NSM_VPP_INIT_PARAMS', '', 'there is no VPP to initialise'),
  vppMinOperationTimeout: unsupported('NSM_VPP_MIN_OPERATION_TIMEOUT', '2s', 'there is no VPP'),
  bridgeName: unsupported('NSM_BRIDGE_NAME', 'br-nsm', 'there is no OvS bridge: the datapath is the kernel (or none)'),
  resourcePollTimeout: unsupported('NSM_RESOURCE_POLL_TIMEOUT', '30s', 'SR-IOV (device plugin) is not supported'),
  devicePluginPath: unsupported('NSM_DEVICE_PLUGIN_PATH', '/var/lib/kubelet/device-plugins/', 'SR-IOV (device plugin) is not supported'),
  podResourcesPath: unsupported('NSM_POD_RESOURCES_PATH', '/var/lib/kubelet/pod-resources/', 'SR-IOV (device plugin) is not supported'),
  deviceSelectorFile: unsupported('NSM_DEVICE_SELECTOR_FILE', '', 'device selection for VPP uplinks is not supported'),
  sriovConfigFile: unsupported('NSM_SRIOV_CONFIG_FILE', '', 'SR-IOV is not supported'),
  l2ResourceSelectorFile: unsupported('NSM_L2_RESOURCE_SELECTOR_FILE', '', 'SR-IOV / L2 resources are not supported'),
  pciDevicesPath: unsupported('NSM_PCI_DEVICES_PATH', '/sys/bus/pci/devices', 'SR-IOV is not supported'),
  pciDriversPath: unsupported('NSM_PCI_DRIVERS_PATH', '/sys/bus/pci/drivers', 'SR-IOV is not supported'),
  cgroupPath: unsupported('NSM_CGROUP_PATH', '/host/sys/fs/cgroup/devices', 'SR-IOV (vfio) is not supported'),
  vfioPath: unsupported('NSM_VFIO_PATH', '/host/dev/vfio', 'SR-IOV (vfio) is not supported'),
};

/** The VXLAN variables of the forwarders with a datapath (cmd-forwarder-vpp's and -ovs's). */
export const tunnelSpec = {
  tunnelIp: variable({
    env: 'NSM_TUNNEL_IP',
    def: '',
    description: 'Underlay address for VXLAN tunnels (default: the address of the default-route interface)',
    kind: 'IP',
    expected: 'an IP address (or CIDR) such as 10.0.0.5',
    parse: (raw: string) => {
      const ip = raw.split('/')[0] ?? '';
      if (raw !== '' && !isIP(ip)) throw new InvalidValue();
      return ip;
    },
    zero: () => '',
  }),
  // cmd-forwarder-ovs's default; cmd-forwarder-vpp's 0 means the same (the IANA port).
  vxlanPort: uint('NSM_VXLAN_PORT', '4789', 'UDP port of the VXLAN tunnels (0: 4789)', { max: 65535 }),
};

/** NSM_TUNNEL_IP, else the address of the default-route interface (cmd-forwarder-*'s default); none: said once, local connections only. */
export function tunnelIpOf(config: { readonly tunnelIp: string }, ctx: RunContext): string | undefined {
  const ip = config.tunnelIp || defaultRouteIp();
  if (ip === undefined) ctx.log.warn('no NSM_TUNNEL_IP and no default route: only local connections will work');
  return ip;
}

export type ForwarderConfig = ConfigOf<typeof forwarderSpec>;

/**
 * A forwarder daemon around `datapath`: serves NetworkService and MonitorConnection, registers
 * itself through NSM_CONNECT_TO as an NSE of NSM_NSNAME labelled NSM_LABELS (kept fresh and
 * re-registered after an nsmgr restart), and on shutdown unregisters and stops.
 */
export async function runForwarder(config: ForwarderConfig, ctx: RunContext, datapath: Datapath): Promise<void> {
  const dir = config.listenOn ? undefined : await mkdtemp(join(tmpdir(), 'nsm-rx-forwarder-'));
  const listen = config.listenOn ?? unixUrl(join(dir as string, 'listen.on.sock'));
  const security = await startSecurity(config, ctx);
  const pool = security.pool();
  const registry = registryClient({ pool, url: config.connectTo, dialTimeout: config.dialTimeout, policies: security.enforce(config.registryClientPolicies), onRetry: logRetry(ctx, config.connectTo.href) });
  const views = registryViews(registry);
  const hop = forwarder({
    name: config.name,
    registry,
    views,
    datapath,
    pool,
    dialTimeout: config.dialTimeout,
    token: security.token,
    inodeUrlOf: inodeUrlOfFile,
    policies: security.enforce(config.serverPolicies),
    mechanismPriority: config.mechanismPriority,
  });
  const server = security.server();
  serveNetworkService(server, hop.handler, hop.monitor, security.enforce(config.monitorPolicies).length ? authorizeMonitor(hop.owners) : undefined);
  const [bound] = await server.listen([listen]);
  const budget = () => Context.background.withDeadline(asyncScheduler.now() + 15_000);
  const url = (bound ?? listen).href;
  let registered: NetworkServiceEndpoint | undefined;
  ctx.lifecycle.onShutdown('forwarder', async () => {
    if (registered) await lastValueFrom(registry.nse.unregister(registered, budget()), { defaultValue: undefined }).catch((e: unknown) => ctx.log.warn('unregister failed', { error: String(e) }));
    views.dispose();
    registry.dispose();
    hop.state.metadata.dispose();
    await server.stop(1000);
    pool.closeAll();
    security.stop();
    datapath.dispose?.(); // its long-lived helpers (ip -batch) end with it
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  // Tried until the nsmgr answers, however late it starts (upstream: no deadline).
  registered = await untilShutdown(
    ctx,
    registry.nse.register(
      NetworkServiceEndpoint.fromPartial({ name: config.name, networkServiceNames: [config.nsName], networkServiceLabels: { [config.nsName]: { labels: config.labels } }, url }),
      Context.background,
    ),
  );
  if (registered) ctx.log.info('serving', { url, datapath: datapath.name, registeredAs: registered.name });
  if (registered) {
    // Heal is when a fresh forwarder's first Request counts: serve it warm (see warmUp).
    const warm = { name: config.name, url: bound ?? listen, pool, token: security.token, inodeUrlOf: inodeUrlOfFile, nse: registry.nse, forwarderService: config.nsName, views };
    ctx.log.debug('warmed up', { request: await warmUp(warm), ...(await warmNextHops(warm).catch((e: unknown) => ({ nextHops: String(e) }))) });
  }
  await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
}

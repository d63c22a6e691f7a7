import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { components } from './components.js';
import { commonSpec, ConfigError, loadConfig, unsupported } from './config.js';

/** What every upstream cmd declares besides its own (cmd-*'s Config: log level, telemetry, pprof). */
const COMMON = ['NSM_LOG_LEVEL', 'NSM_OPEN_TELEMETRY_ENDPOINT', 'NSM_METRICS_EXPORT_INTERVAL', 'NSM_PPROF_ENABLED', 'NSM_PPROF_LISTEN_ON'];

/**
 * The variables each upstream cmd declares (its envconfig Config, at the commits of
 * reference/nsm-components-config.md), by the nsm-rx component that stands in for it.
 */
const UPSTREAM: Record<string, { cmd: string; vars: string[] }[]> = {
  nsmgr: [{ cmd: 'cmd-nsmgr', vars: ['NSM_NAME', 'NSM_LISTEN_ON', 'NSM_REGISTRY_URL', 'NSM_MAX_TOKEN_LIFETIME', 'NSM_REGISTRY_SERVER_POLICIES', 'NSM_DIAL_TIMEOUT', 'NSM_FORWARDER_NETWORK_SERVICE_NAME', 'NSM_REGISTRY_CLIENT_POLICIES'] }],
  'registry-memory': [{ cmd: 'cmd-registry-memory', vars: ['NSM_LISTEN_ON', 'NSM_MAX_TOKEN_LIFETIME', 'NSM_REGISTRY_SERVER_POLICIES', 'NSM_REGISTRY_CLIENT_POLICIES', 'NSM_PROXY_REGISTRY_URL', 'NSM_EXPIRE_PERIOD'] }],
  'registry-k8s': [{ cmd: 'cmd-registry-k8s', vars: ['NSM_NAMESPACE', 'NSM_PROXY_REGISTRY_URL', 'NSM_EXPIRE_PERIOD', 'NSM_LISTEN_ON', 'NSM_MAX_TOKEN_LIFETIME', 'NSM_REGISTRY_SERVER_POLICIES', 'NSM_REGISTRY_CLIENT_POLICIES', 'NSM_KUBELET_QPS'] }],
  'nse-vl3': [
    {
      cmd: 'cmd-nse-vl3-vpp',
      vars: [
        ...['NSM_NAME', 'NSM_DIAL_TIMEOUT', 'NSM_REQUEST_TIMEOUT', 'NSM_LISTEN_ON', 'NSM_CONNECT_TO', 'NSM_MAX_TOKEN_LIFETIME', 'NSM_REGISTRY_CLIENT_POLICIES', 'NSM_SERVICE_NAMES', 'NSM_LABELS', 'NSM_REQUEST_LABELS'],
        ...['NSM_IDLE_TIMEOUT', 'NSM_REGISTER_SERVICE', 'NSM_UNREGISTER_ITSELF', 'NSM_PREFIX_SERVER_URL', 'NSM_DNS_TEMPLATES', 'NSM_LIVENESS_CHECK_ENABLED', 'NSM_LIVENESS_CHECK_INTERVAL', 'NSM_LIVENESS_CHECK_TIMEOUT'],
      ],
    },
  ],
  'ipam-vl3': [{ cmd: 'cmd-ipam-vl3', vars: ['NSM_LISTEN_ON', 'NSM_PREFIX', 'NSM_CLIENT_PREFIX_LEN'] }],
  'registry-proxy-dns': [{ cmd: 'cmd-registry-proxy-dns', vars: ['NSM_LISTEN_ON', 'NSM_MAX_TOKEN_LIFETIME', 'NSM_REGISTRY_SERVER_POLICIES', 'NSM_REGISTRY_CLIENT_POLICIES'] }],
  'nsmgr-proxy': [
    {
      cmd: 'cmd-nsmgr-proxy',
      vars: ['NSM_LISTEN_ON', 'NSM_NAME', 'NSM_MAX_TOKEN_LIFETIME', 'NSM_REGISTRY_SERVER_POLICIES', 'NSM_REGISTRY_CLIENT_POLICIES', 'NSM_MAP_IP_FILE_PATH', 'NSM_REGISTRY_PROXY_URL', 'NSM_REGISTRY_URL'],
    },
  ],
  'admission-webhook-k8s': [
    {
      cmd: 'cmd-admission-webhook-k8s',
      vars: [
        ...['NSM_NAME', 'NSM_SERVICE_NAME', 'NSM_NAMESPACE', 'NSM_ANNOTATION', 'NSM_LABELS', 'NSM_NSURL_ENV_NAME', 'NSM_INIT_CONTAINER_IMAGES', 'NSM_CONTAINER_IMAGES', 'NSM_ENVS'],
        ...['NSM_WEBHOOK_MODE', 'NSM_CERT_FILE_PATH', 'NSM_KEY_FILE_PATH', 'NSM_CA_BUNDLE_FILE_PATH', 'NSM_SIDECAR_LIMITS_MEMORY', 'NSM_SIDECAR_LIMITS_CPU', 'NSM_SIDECAR_REQUESTS_MEMORY', 'NSM_SIDECAR_REQUESTS_CPU', 'NSM_KUBELET_QPS'],
      ],
    },
  ],
  'cluster-info-k8s': [{ cmd: 'cmd-cluster-info-k8s', vars: ['NSM_CONFIGMAP_NAME', 'NSM_NAMESPACE', 'NSM_TRANSLATION_MAP', 'NSM_FILE_NAME'] }],
  'map-ip-k8s': [{ cmd: 'cmd-map-ip-k8s', vars: ['NSM_OUTPUT_PATH', 'NSM_NODE_NAME', 'NSM_NAMESPACE', 'NSM_FROM_CONFIG_MAP'] }],
  'exclude-prefixes-k8s': [
    {
      cmd: 'cmd-exclude-prefixes-k8s',
      vars: ['NSM_EXCLUDED_PREFIXES', 'NSM_CONFIG_MAP_NAMESPACE', 'NSM_CONFIG_MAP_NAME', 'NSM_CONFIG_MAP_KEY', 'NSM_OUTPUT_CONFIG_MAP_NAME', 'NSM_OUTPUT_CONFIG_MAP_KEY', 'NSM_OUTPUT_FILE_PATH', 'NSM_PREFIXES_OUTPUT_TYPE'],
    },
  ],
  'forwarder-kernel': [
    {
      cmd: 'cmd-forwarder-vpp',
      vars: [
        ...['NSM_NAME', 'NSM_LABELS', 'NSM_NSNAME', 'NSM_CONNECT_TO', 'NSM_LISTEN_ON', 'NSM_MAX_TOKEN_LIFETIME', 'NSM_DIAL_TIMEOUT', 'NSM_REGISTRY_CLIENT_POLICIES'],
        ...['NSM_PROMETHEUS_LISTEN_ON', 'NSM_PROMETHEUS_CA_FILE', 'NSM_PROMETHEUS_KEY_FILE', 'NSM_PROMETHEUS_CERT_FILE', 'NSM_PROMETHEUS_MONITOR_CERTIFICATE'],
        ...['NSM_PROMETHEUS_SERVER_HEADER_TIMEOUT', 'NSM_PROMETHEUS_MAX_BIND_THRESHOLD', 'NSM_TUNNEL_IP', 'NSM_VXLAN_PORT'],
        ...['NSM_VPP_API_SOCKET', 'NSM_VPP_INIT', 'NSM_VPP_INIT_PARAMS', 'NSM_VPP_MIN_OPERATION_TIMEOUT'],
        ...['NSM_RESOURCE_POLL_TIMEOUT', 'NSM_DEVICE_PLUGIN_PATH', 'NSM_POD_RESOURCES_PATH', 'NSM_DEVICE_SELECTOR_FILE', 'NSM_SRIOV_CONFIG_FILE'],
        ...['NSM_PCI_DEVICES_PATH', 'NSM_PCI_DRIVERS_PATH', 'NSM_CGROUP_PATH', 'NSM_VFIO_PATH', 'NSM_MECHANISM_PRIORITY'],
      ],
    },
    { cmd: 'cmd-forwarder-ovs', vars: ['NSM_BRIDGE_NAME', 'NSM_L2_RESOURCE_SELECTOR_FILE'] },
  ],
  'forwarder-ovs': [
    {
      cmd: 'cmd-forwarder-ovs',
      vars: [
        ...['NSM_NAME', 'NSM_LABELS', 'NSM_NSNAME', 'NSM_BRIDGE_NAME', 'NSM_TUNNEL_IP', 'NSM_VXLAN_PORT', 'NSM_CONNECT_TO', 'NSM_DIAL_TIMEOUT', 'NSM_MAX_TOKEN_LIFETIME'],
        ...['NSM_SRIOV_CONFIG_FILE', 'NSM_L2_RESOURCE_SELECTOR_FILE', 'NSM_RESOURCE_POLL_TIMEOUT', 'NSM_DEVICE_PLUGIN_PATH', 'NSM_POD_RESOURCES_PATH'],
        ...['NSM_PCI_DEVICES_PATH', 'NSM_PCI_DRIVERS_PATH', 'NSM_CGROUP_PATH', 'NSM_VFIO_PATH', 'NSM_REGISTRY_CLIENT_POLICIES'],
      ],
    },
  ],
  'nse-icmp-responder': [
    {
      cmd: 'cmd-nse-icmp-responder',
      vars: [
        ...['NSM_NAME', 'NSM_BASE_DIR', 'NSM_CONNECT_TO', 'NSM_MAX_TOKEN_LIFETIME', 'NSM_IPAM_POLICY', 'NSM_SERVICE_NAMES', 'NSM_PAYLOAD', 'NSM_LABELS'],
        ...['NSM_DNS_CONFIGS', 'NSM_CIDR_PREFIX', 'NSM_IDLE_TIMEOUT', 'NSM_REGISTER_SERVICE', 'NSM_UNREGISTER_ITSELF', 'NSM_PBR_CONFIG_PATH'],
        'NSM_REGISTRY_CLIENT_POLICIES',
      ],
    },
  ],
  nsc: [
    {
      cmd: 'cmd-nsc',
      vars: [
        ...['NSM_NAME', 'NSM_CONNECT_TO', 'NSM_DIAL_TIMEOUT', 'NSM_REQUEST_TIMEOUT', 'NSM_MAX_TOKEN_LIFETIME', 'NSM_LABELS', 'NSM_MECHANISM', 'NSM_NETWORK_SERVICES'],
        ...['NSM_AWARENESS_GROUPS', 'NSM_LOCAL_DNS_SERVER_ENABLED', 'NSM_LOCAL_DNS_SERVER_ADDRESS', 'NSM_LIVENESS_CHECK_ENABLED', 'NSM_LIVENESS_CHECK_INTERVAL', 'NSM_LIVENESS_CHECK_TIMEOUT'],
      ],
    },
  ],
  'nsc-init': [{ cmd: 'cmd-nsc-init', vars: ['NSM_NAME', 'NSM_DIAL_TIMEOUT', 'NSM_REQUEST_TIMEOUT', 'NSM_CONNECT_TO', 'NSM_MAX_TOKEN_LIFETIME', 'NSM_NETWORK_SERVICES', 'NSM_AWARENESS_GROUPS'] }],
};

describe('every variable upstream’s matching cmd declares is honoured or refused by name', () => {
  it.each(Object.entries(UPSTREAM))('%s', async (name, cmds) => {
    const component = await components[name]!.load();
    const spec = { ...commonSpec, ...component.spec };
    const kinds = new Map(Object.values(spec).map((v) => [v.env, v.kind]));
    const missing = cmds.flatMap(({ cmd, vars }) => [...COMMON, ...vars].filter((v) => !kinds.has(v)).map((v) => `${cmd} ${v}`));
    expect(missing).toEqual([]);
    // forwarder-noop reads the same variables as forwarder-kernel but the tunnel ones.
    if (name === 'forwarder-kernel') {
      const noop = await components['forwarder-noop']!.load();
      const noopVars = new Set(Object.values(noop.spec).map((v) => v.env));
      const tunnelOnly = ['NSM_TUNNEL_IP', 'NSM_VXLAN_PORT'];
      const everyDaemons = new Set(Object.values(commonSpec).map((v) => v.env));
      expect([...kinds.keys()].filter((v) => !noopVars.has(v) && !tunnelOnly.includes(v) && !everyDaemons.has(v))).toEqual([]);
    }
  });
});

describe('unsupported(name, default, why)', () => {
  const spec = { vppInit: unsupported('NSM_VPP_INIT', 'AF_PACKET', 'there is no VPP to initialise'), selector: unsupported('NSM_DEVICE_SELECTOR_FILE', '', 'not here') };

  it('accepts the variable unset or at upstream’s default (a copied deployment starts)', () => {
    expect(loadConfig(spec, {})).toEqual({ vppInit: undefined, selector: undefined });
    expect(loadConfig(spec, { NSM_VPP_INIT: 'AF_PACKET', NSM_DEVICE_SELECTOR_FILE: '' })).toEqual({ vppInit: undefined, selector: undefined });
  });

  it('refuses any other value, naming the variable and why', () => {
    const error = (() => {
      try {
        loadConfig(spec, { NSM_VPP_INIT: 'AF_XDP', NSM_DEVICE_SELECTOR_FILE: '/etc/sel.yaml' });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message.split('\n')).toEqual([
      'NSM_VPP_INIT="AF_XDP": expected it unset or "AF_PACKET" (upstream\'s default) (not supported by nsm-rx: there is no VPP to initialise)',
      'NSM_DEVICE_SELECTOR_FILE="/etc/sel.yaml": expected it unset or empty (not supported by nsm-rx: not here)',
    ]);
  });

  it('NSM_PPROF_ENABLED (every cmd) is a Go bool; NSM_PPROF_LISTEN_ON a host:port', () => {
    expect(loadConfig(commonSpec, { NSM_PPROF_ENABLED: 'T' }).pprofEnabled).toBe(true);
    expect(() => loadConfig(commonSpec, { NSM_PPROF_LISTEN_ON: 'localhost' })).toThrow('NSM_PPROF_LISTEN_ON="localhost": expected host:port (e.g. :8081 or 127.0.0.1:8081)');
  });

  it('makes nsm-rx exit 2 at start (needs npm run build)', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const r = spawnSync(process.execPath, ['bin/nsm-rx.js', 'forwarder-noop'], { cwd: root, encoding: 'utf8', env: { ...process.env, NSM_SRIOV_CONFIG_FILE: '/etc/pci.config' }, timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('NSM_SRIOV_CONFIG_FILE="/etc/pci.config": expected it unset or empty (not supported by nsm-rx: SR-IOV is not supported)');
  });
});

describe('forwarder variables as upstream', () => {
  it('NSM_CONNECT_TO and NSM_LISTEN_ON default to cmd-forwarder-vpp’s; NSM_LISTEN_ON="" serves on a temporary socket (as cmd-forwarder-ovs); NSM_MECHANISM_PRIORITY is a list; NSM_VXLAN_PORT=0 is accepted', async () => {
    const kernel = await components['forwarder-kernel']!.load();
    const config = loadConfig(kernel.spec, {}) as Record<string, unknown>;
    expect(config['connectTo']).toMatchObject({ href: 'unix:///connect.to.socket' });
    expect(config['listenOn']).toMatchObject({ href: 'unix:///listen.on.socket' });
    expect(config['mechanismPriority']).toEqual([]);
    const set = loadConfig(kernel.spec, { NSM_LISTEN_ON: '', NSM_MECHANISM_PRIORITY: 'vxlan, wireguard', NSM_VXLAN_PORT: '0' }) as Record<string, unknown>;
    expect(set['listenOn']).toBeUndefined();
    expect(set['mechanismPriority']).toEqual(['vxlan', 'wireguard']);
    expect(set['vxlanPort']).toBe(0);
  });
});

describe('defaults as upstream’s', () => {
  it('nsc-init is named cmd-nsc-init unless NSM_NAME says otherwise; the nsc, nsc', async () => {
    const init = await components['nsc-init']!.load();
    const nsc = await components.nsc!.load();
    expect((loadConfig(init.spec, {}) as { name: string }).name).toBe('cmd-nsc-init');
    expect((loadConfig(nsc.spec, {}) as { name: string }).name).toBe('nsc');
  });
});

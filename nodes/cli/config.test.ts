import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Level } from '../../operators/tools/log.js';
import {
  type NsmUrl,
  ConfigError,
  bool,
  commonSpec,
  duration,
  helpText,
  int,
  json,
  list,
  loadConfig,
  logLevel,
  map,
  oneOf,
  optional,
  parseGoInt,
  str,
  uint,
  unknownVariables,
  url,
  urlList,
} from './config.js';

/** The cmd-nsmgr variables, as a realistic spec. */
const nsmgrSpec = {
  name: str('NSM_NAME', 'nmgr', 'Name of the nsmgr'),
  listenOn: urlList('NSM_LISTEN_ON', 'unix:///var/lib/networkservicemesh/nsm.io.sock', 'URLs to listen on'),
  registryUrl: url('NSM_REGISTRY_URL', 'tcp://localhost:5001', 'Registry URL'),
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Token lifetime'),
  dialTimeout: duration('NSM_DIAL_TIMEOUT', '750ms', 'Dial timeout'),
  labels: map('NSM_LABELS', '', 'Labels'),
  services: list('NSM_SERVICE_NAMES', 'icmp-responder', 'Services'),
  ipamPolicy: oneOf('NSM_IPAM_POLICY', ['polite', 'strict'], 'polite', 'IPAM policy'),
  registerService: bool('NSM_REGISTER_SERVICE', 'true', 'Register the NS'),
  qps: int('NSM_KUBELET_QPS', '205', 'QPS'),
  vxlanPort: uint('NSM_VXLAN_PORT', '0', 'VXLAN port', { max: 65535 }),
  proxy: optional(url('NSM_PROXY_REGISTRY_URL', '', 'Proxy registry')),
  dns: json('NSM_DNS_CONFIGS', '[]', 'DNS configs', (v) => {
    if (!Array.isArray(v)) throw new Error('not an array');
    return v as { dns_server_ips?: string[] }[];
  }),
  logLevel: logLevel(),
};

describe('loadConfig', () => {
  it('applies upstream defaults and infers the result type', () => {
    const c = loadConfig(nsmgrSpec, {});
    expectTypeOf(c.name).toEqualTypeOf<string>();
    expectTypeOf(c.listenOn).toEqualTypeOf<NsmUrl[]>();
    expectTypeOf(c.dialTimeout).toEqualTypeOf<number>();
    expectTypeOf(c.ipamPolicy).toEqualTypeOf<'polite' | 'strict'>();
    expectTypeOf(c.proxy).toEqualTypeOf<NsmUrl | undefined>();
    expectTypeOf(c.logLevel).toEqualTypeOf<Level>();
    expectTypeOf(c.labels).toEqualTypeOf<Record<string, string>>();
    expect(c).toEqual({
      name: 'nmgr',
      listenOn: [{ scheme: 'unix', path: '/var/lib/networkservicemesh/nsm.io.sock', href: 'unix:///var/lib/networkservicemesh/nsm.io.sock' }],
      registryUrl: { scheme: 'tcp', host: 'localhost', port: 5001, href: 'tcp://localhost:5001' },
      maxTokenLifetime: 600_000,
      dialTimeout: 750,
      labels: {},
      services: ['icmp-responder'],
      ipamPolicy: 'polite',
      registerService: true,
      qps: 205,
      vxlanPort: 0,
      proxy: undefined,
      dns: [],
      logLevel: 'INFO',
    });
  });

  it('reads values as the deployments write them', () => {
    const c = loadConfig(nsmgrSpec, {
      NSM_LISTEN_ON: 'unix:///var/lib/networkservicemesh/nsm.io.sock,tcp://10.0.0.5:5001',
      NSM_REGISTRY_URL: 'registry:5002',
      NSM_DIAL_TIMEOUT: '1m30s',
      NSM_LABELS: 'p2p:true, app : icmp ,url:tcp://x:1',
      NSM_SERVICE_NAMES: ' a , b,,',
      NSM_IPAM_POLICY: 'strict',
      NSM_REGISTER_SERVICE: 'F',
      NSM_KUBELET_QPS: '0x10',
      NSM_PROXY_REGISTRY_URL: 'nsmgr-proxy:5004',
      NSM_DNS_CONFIGS: '[{"dns_server_ips":["172.16.1.100"],"search_domains":["my.coredns.service"]}]',
      NSM_LOG_LEVEL: 'debug',
    });
    expect(c.listenOn.map((u) => u.href)).toEqual(['unix:///var/lib/networkservicemesh/nsm.io.sock', 'tcp://10.0.0.5:5001']);
    expect(c.registryUrl).toMatchObject({ scheme: 'tcp', host: 'registry', port: 5002 });
    expect(c.dialTimeout).toBe(90_000);
    expect(c.labels).toEqual({ p2p: 'true', app: 'icmp', url: 'tcp://x:1' });
    expect(c.services).toEqual(['a', 'b']);
    expect(c.ipamPolicy).toBe('strict');
    expect(c.registerService).toBe(false);
    expect(c.qps).toBe(16);
    expect(c.proxy?.href).toBe('tcp://nsmgr-proxy:5004');
    expect(c.dns[0]?.dns_server_ips).toEqual(['172.16.1.100']);
    expect(c.logLevel).toBe('DEBUG');
  });

  it('treats a variable set to "" as set (envconfig): lists empty, optional undefined', () => {
    const c = loadConfig(nsmgrSpec, { NSM_SERVICE_NAMES: '', NSM_LISTEN_ON: '', NSM_PROXY_REGISTRY_URL: '', NSM_NAME: '' });
    expect(c.services).toEqual([]);
    expect(c.listenOn).toEqual([]);
    expect(c.proxy).toBeUndefined();
    expect(c.name).toBe('');
    expect(() => loadConfig(nsmgrSpec, { NSM_DIAL_TIMEOUT: '' })).toThrow('NSM_DIAL_TIMEOUT=""');
  });

  it('reports a bad value with the variable, the value and the expected form', () => {
    expect(() => loadConfig(nsmgrSpec, { NSM_DIAL_TIMEOUT: 'abc' })).toThrow(
      'NSM_DIAL_TIMEOUT="abc": expected a Go duration such as 750ms, 15s or 1m',
    );
  });

  it('collects every problem, not just the first', () => {
    let err: unknown;
    try {
      loadConfig(nsmgrSpec, {
        NSM_DIAL_TIMEOUT: 'abc',
        NSM_REGISTER_SERVICE: 'yes',
        NSM_IPAM_POLICY: 'Strict',
        NSM_LISTEN_ON: 'unix:///ok.sock,nope',
        NSM_LABELS: 'novalue',
        NSM_VXLAN_PORT: '70000',
        NSM_KUBELET_QPS: '1.5',
        NSM_DNS_CONFIGS: '{bad',
        NSM_LOG_LEVEL: 'loud',
        NSM_REGISTRY_URL: 'http://x:1',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems.map((p) => p.env)).toEqual([
      'NSM_LISTEN_ON',
      'NSM_REGISTRY_URL',
      'NSM_DIAL_TIMEOUT',
      'NSM_LABELS',
      'NSM_IPAM_POLICY',
      'NSM_REGISTER_SERVICE',
      'NSM_KUBELET_QPS',
      'NSM_VXLAN_PORT',
      'NSM_DNS_CONFIGS',
      'NSM_LOG_LEVEL',
    ]);
    const msg = (err as ConfigError).message;
    expect(msg).toContain('NSM_REGISTER_SERVICE="yes": expected true or false');
    expect(msg).toContain('NSM_IPAM_POLICY="Strict": expected one of polite, strict');
    expect(msg).toContain('NSM_LISTEN_ON="unix:///ok.sock,nope": expected a comma-separated list of unix:///path, tcp://host:port or host:port (item "nope")');
    expect(msg).toContain(`NSM_LABELS="novalue": expected key:value pairs separated by commas, e.g. k1:v1,k2:v2 (item "novalue" has no ':')`);
    expect(msg).toContain('NSM_VXLAN_PORT="70000": expected an integer from 0 to 65535 (out of range)');
    expect(msg).toContain('NSM_LOG_LEVEL="loud": expected one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL');
    expect(msg).toContain('NSM_REGISTRY_URL="http://x:1": expected unix:///path, tcp://host:port or host:port (unsupported scheme "http"');
    expect(msg).toMatch(/NSM_DNS_CONFIGS="\{bad": expected JSON \(.+\)/);
    expect(msg.split('\n')).toHaveLength(10);
  });

  it('reports a missing required variable', () => {
    const spec = { connectTo: url('NSM_CONNECT_TO', '', 'nsmgr socket'), mode: oneOf('NSM_MODE', ['a', 'b'], '', 'mode') };
    expect(() => loadConfig(spec, {})).toThrow(/NSM_CONNECT_TO is required: expected unix:\/\/\/path.*\nNSM_MODE is required: expected one of a, b/);
    expect(loadConfig(spec, { NSM_CONNECT_TO: 'unix:///s', NSM_MODE: 'b' }).mode).toBe('b');
  });

  it('gives zero values to unset variables without default', () => {
    const spec = { s: str('A', '', ''), b: bool('B', '', ''), n: int('C', '', ''), d: duration('D', '', ''), l: list('E', '', ''), m: map('F', '', '') };
    expect(loadConfig(spec, {})).toEqual({ s: '', b: false, n: 0, d: 0, l: [], m: {} });
  });

  it('parses Go booleans exactly', () => {
    const spec = { b: bool('B', 'false', '') };
    for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) expect(loadConfig(spec, { B: t }).b).toBe(true);
    for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) expect(loadConfig(spec, { B: f }).b).toBe(false);
    for (const x of ['yes', 'tRUE', ' true', '']) expect(() => loadConfig(spec, { B: x })).toThrow(ConfigError);
  });

  it('oneOf can be case-insensitive and returns the canonical spelling', () => {
    const spec = { init: oneOf('NSM_VPP_INIT', ['AF_XDP', 'AF_PACKET', 'NONE'], 'AF_PACKET', '', { caseInsensitive: true }) };
    expect(loadConfig(spec, { NSM_VPP_INIT: 'af_xdp' }).init).toBe('AF_XDP');
  });

  it('keeps a "__proto__" label as data', () => {
    const labels = loadConfig({ l: map('L', '', '') }, { L: '__proto__:x' }).l;
    expect(Object.getPrototypeOf(labels)).toBe(Object.prototype);
    expect(Object.keys(labels)).toEqual(['__proto__']);
  });
});

describe('parseGoInt (strconv.ParseInt base 0)', () => {
  it.each([
    ['0', 0n],
    ['42', 42n],
    ['-42', -42n],
    ['+7', 7n],
    ['0x1F', 31n],
    ['0o17', 15n],
    ['017', 15n],
    ['0b101', 5n],
    ['1_000', 1000n],
    ['0x_1f', 31n],
  ] as const)('%s', (s, want) => expect(parseGoInt(s)).toBe(want));
  it.each(['', '-', '1.5', '08', '1__0', '_1', '1_', '0x', 'abc', ' 1'])('rejects %j', (s) => expect(() => parseGoInt(s)).toThrow());
});

describe('commonSpec', () => {
  it('has the upstream defaults', () => {
    expect(loadConfig(commonSpec, {})).toEqual({
      logLevel: 'INFO',
      logFormat: 'auto',
      openTelemetryEndpoint: 'otel-collector.observability.svc.cluster.local:4317',
      telemetry: false,
      metricsExportInterval: 10_000,
      pprofEnabled: false,
      pprofListenOn: 'localhost:6060',
      prometheus: false,
      prometheusListenOn: ':8081',
      prometheusCaFile: '',
      prometheusKeyFile: '',
      prometheusCertFile: '',
      prometheusMonitorCertificate: false,
      prometheusServerHeaderTimeout: 5000,
      prometheusMaxBindThreshold: 120_000,
    });
  });
});

describe('unknownVariables', () => {
  it('lists NSM_* names the spec does not declare', () => {
    expect(unknownVariables(nsmgrSpec, { NSM_NAME: 'x', NSM_LISTEN_ONN: 'y', HOME: '/root', NSM_A: '' })).toEqual(['NSM_A', 'NSM_LISTEN_ONN']);
  });
});

describe('helpText', () => {
  it('shows every variable with its type, default and description', () => {
    const text = helpText('nsmgr', 'Network Service Manager', { ...nsmgrSpec, required: url('NSM_CONNECT_TO', '', 'Where to connect') });
    expect(text).toContain('nsm-rx nsmgr: Network Service Manager');
    const row = (env: string): string => text.split('\n').find((l) => l.trimStart().startsWith(env + ' ')) ?? '';
    expect(row('NSM_DIAL_TIMEOUT')).toMatch(/^ {2}NSM_DIAL_TIMEOUT +duration +750ms +Dial timeout$/);
    expect(row('NSM_LABELS')).toMatch(/map +- +Labels$/);
    expect(row('NSM_CONNECT_TO')).toMatch(/url +\(required\) +Where to connect$/);
    expect(row('NSM_IPAM_POLICY')).toMatch(/polite\|strict +polite +IPAM policy$/);
    for (const v of Object.values(nsmgrSpec)) expect(text).toContain(v.env);
  });
});

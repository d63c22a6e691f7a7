import { defer } from 'rxjs';
import { ConnectionContext, DNSConfig, DNSContext } from '../../proto/gen/connectioncontext.js';
import { invalidArgument } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';

/** Same members, counted, in any order (upstream dnsutils.ContainsDNSConfig's comparison). */
function sameMultiset(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const counts = new Map<string, number>();
  for (const x of a) counts.set(x, (counts.get(x) ?? 0) + 1);
  for (const x of b) {
    const n = counts.get(x);
    if (n === undefined || n === 0) return false;
    counts.set(x, n - 1);
  }
  return true;
}

/** Upstream ContainsDNSConfig: a config with the same server IPs and the same search domains. */
export function containsDnsConfig(configs: readonly DNSConfig[], config: DNSConfig): boolean {
  return configs.some((c) => sameMultiset(c.dnsServerIps, config.dnsServerIps) && sameMultiset(c.searchDomains, config.searchDomains));
}

/**
 * `dnsContextServer(configs)` (NSE side, upstream dnscontext server): appends each configured
 * DNSConfig to the connection's `context.dns_context.configs` unless an equal one (same server
 * IPs and search domains, in any order) is there already. Creates the contexts when missing
 * (upstream assumes a ConnectionContext). Close passes through.
 */
export function dnsContextServer(configs: readonly DNSConfig[]): NetworkServiceElement {
  const own = configs.map((c) => DNSConfig.fromPartial(c));
  return {
    request: (request, ctx, next) =>
      defer(() => {
        const conn = request.connection;
        if (conn === undefined) throw invalidArgument('request has no connection');
        conn.context ??= ConnectionContext.fromPartial({});
        conn.context.dnsContext ??= DNSContext.fromPartial({});
        const list = conn.context.dnsContext.configs;
        for (const c of own) if (!containsDnsConfig(list, c)) list.push(DNSConfig.fromPartial(c));
        return next.request(request, ctx);
      }),
  };
}

/** The JSON keys of each field: Go's encoding/json matches the snake_case tag in any case; camelCase (protojson) is accepted too. */
const FIELDS: readonly { field: keyof DNSConfig; names: readonly string[] }[] = [
  { field: 'dnsServerIps', names: ['dns_server_ips', 'dnsserverips'] },
  { field: 'searchDomains', names: ['search_domains', 'searchdomains'] },
];

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`);

/**
 * Parses NSM_DNS_CONFIGS, a JSON array of DNSConfig as upstream's dnsconfig.Decoder reads it
 * (Go encoding/json): `[{"dns_server_ips": ["172.16.1.100"], "search_domains": ["my.coredns.service"]}]`.
 * Keys match in any case; unknown keys are ignored (as in Go); `null` lists and a top-level
 * `null` are empty.
 *
 * @throws Error saying what is wrong and where (`[1].dns_server_ips[0]: expected a string, found number 5`).
 */
export function parseDnsConfigs(json: string): DNSConfig[] {
  if (json.trim() === '') throw new Error('empty value: expected a JSON array of DNS configs, e.g. [] or [{"dns_server_ips":["10.0.0.1"],"search_domains":["my.domain"]}]');
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    throw new Error(`not valid JSON: ${(e as Error).message}`);
  }
  if (value === null) return [];
  if (!Array.isArray(value)) throw new Error(`expected a JSON array of DNS configs, found ${describe(value)}`);
  return value.map((item: unknown, i) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new Error(`[${i}]: expected an object with dns_server_ips and search_domains, found ${describe(item)}`);
    const config = DNSConfig.fromPartial({});
    for (const [key, v] of Object.entries(item as Record<string, unknown>)) {
      const spec = FIELDS.find((f) => f.names.includes(key.toLowerCase()));
      if (spec === undefined) continue;
      if (v === null) {
        config[spec.field] = [];
        continue;
      }
      if (!Array.isArray(v)) throw new Error(`[${i}].${key}: expected an array of strings, found ${describe(v)}`);
      config[spec.field] = v.map((s: unknown, j) => {
        if (typeof s !== 'string') throw new Error(`[${i}].${key}[${j}]: expected a string, found ${describe(s)}`);
        return s;
      });
    }
    return config;
  });
}

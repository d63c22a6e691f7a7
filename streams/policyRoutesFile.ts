import type { Observable } from 'rxjs';
import type { PolicyRoute, Route } from '../proto/gen/connectioncontext.js';
import { tryParseCidr, tryParseIp } from '../operators/tools/cidr.js';
import { watchedFile, type WatchedFileOptions } from './watchedFile.js';
import { parseYaml, type YamlValue } from './yaml.js';

/** Where cmd-nse-icmp-responder reads its policy routes (NSM_PBR_CONFIG_PATH's default). */
export const PBR_CONFIG_PATH = '/etc/policy-based-routing/config.yaml';

const POLICY_KEYS = ['from', 'proto', 'dstport', 'srcport', 'routes'] as const;
const ROUTE_KEYS = ['prefix', 'nexthop'] as const;
/** Names a reader of the proto would write, and the key upstream's yaml.v2 reads instead. */
const HINTS: Readonly<Record<string, string>> = { dst_port: 'dstport', src_port: 'srcport', next_hop: 'nexthop', nextHop: 'nexthop', dstPort: 'dstport', srcPort: 'srcport' };

const isMapping = (v: YamlValue): v is { [key: string]: YamlValue } => typeof v === 'object' && v !== null && !Array.isArray(v);

function fields<K extends string>(v: YamlValue, keys: readonly K[], where: string): Record<K, string> & { routes?: YamlValue } {
  if (!isMapping(v)) throw new Error(`${where}: expected a mapping of ${keys.join(', ')}`);
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(v)) {
    if (!(keys as readonly string[]).includes(k)) {
      const hint = HINTS[k];
      throw new Error(`${where}: unknown key "${k}"${hint ? ` (upstream's key is "${hint}")` : ''}; expected ${keys.join(', ')}`);
    }
    if (k === 'routes') continue;
    if (value !== null && typeof value !== 'string') throw new Error(`${where}: "${k}" must be a single value`);
    out[k] = value ?? '';
  }
  return Object.assign(out as Record<K, string>, { routes: v['routes'] ?? null });
}

function portRange(value: string, where: string): string {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(value);
  if (value !== '' && (!m || Number(m[1]) > 65535 || Number(m[2] ?? m[1]) > 65535 || Number(m[2] ?? m[1]) < Number(m[1]))) {
    throw new Error(`${where}: "${value}" is not a port or a port range start-end`);
  }
  return value;
}

/**
 * Parses the policy-based routing file of cmd-nse-icmp-responder: a YAML list of policy routes
 * with upstream's keys (yaml.v2 reads the proto's Go fields lower-cased):
 *
 * ```yaml
 * - from: 172.16.1.101/32   # a source CIDR (also added to the client's addresses)
 *   proto: 6                # an IP protocol number
 *   dstport: 6666           # a port or a range start-end; srcport likewise
 *   routes:                 # none: a default route
 *   - prefix: 172.16.3.0/24
 *     nexthop: 172.16.2.200
 * ```
 *
 * An empty file is no policies. Every value is checked here, so a bad file is reported when it is
 * read (and the last good policies stay) instead of failing each client's Request later; unlike
 * yaml.v2, an unknown key is an error, not silently dropped.
 * @throws Error naming the policy (1-based), the field and the value.
 */
export function parsePolicyRoutes(text: string): PolicyRoute[] {
  const doc = parseYaml(text);
  if (doc === null) return [];
  if (!Array.isArray(doc)) throw new Error('expected a list of policy routes ("- from: …")');
  return doc.map((item, i) => {
    const where = `policy ${i + 1}`;
    const f = fields(item, POLICY_KEYS, where);
    if (f.from && !tryParseCidr(f.from)) throw new Error(`${where}: from "${f.from}" is not a CIDR such as 172.16.1.101/32`);
    const proto = f.proto ?? '';
    if (proto !== '' && (!/^\d{1,3}$/.test(proto) || Number(proto) > 255)) throw new Error(`${where}: proto "${proto}" is not an IP protocol number (0–255)`);
    const routesValue = f.routes ?? null;
    if (routesValue !== null && !Array.isArray(routesValue)) throw new Error(`${where}: routes must be a list`);
    const routes: Route[] = (routesValue ?? []).map((r, j) => {
      const rw = `${where}, route ${j + 1}`;
      const rf = fields(r, ROUTE_KEYS, rw);
      if (!tryParseCidr(rf.prefix ?? '')) throw new Error(`${rw}: prefix "${rf.prefix ?? ''}" is not a CIDR`);
      if (rf.nexthop && !tryParseIp(rf.nexthop)) throw new Error(`${rw}: nexthop "${rf.nexthop}" is not an IP address`);
      return { prefix: rf.prefix ?? '', nextHop: rf.nexthop ?? '' };
    });
    return { from: f.from ?? '', proto, dstPort: portRange(f.dstport ?? '', `${where}: dstport`), srcPort: portRange(f.srcport ?? '', `${where}: srcport`), routes };
  });
}

export type PolicyRoutesFileOptions = Omit<WatchedFileOptions<PolicyRoute[]>, 'parse' | 'empty' | 'same' | 'createDirectory'>;

const samePolicies = (a: PolicyRoute[], b: PolicyRoute[]) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The NSE's policy-based routing file (NSM_PBR_CONFIG_PATH) as a stream of policy lists, watched
 * as upstream does (`watchedFile`: [] without a file; an invalid one is reported and the last good
 * list stays). Unlike upstream, a missing directory is not created (the default is under /etc,
 * a ConfigMap mount point in a pod): then there are no policies and nothing to watch.
 */
export function policyRoutesFile(options: PolicyRoutesFileOptions): Observable<PolicyRoute[]> {
  return watchedFile({ ...options, parse: parsePolicyRoutes, empty: [], same: samePolicies, createDirectory: false });
}

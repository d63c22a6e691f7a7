import { isIP } from 'node:net';
import type { ConnectionContext, Route } from '../../proto/gen/connectioncontext.js';
import { invalidArgument } from '../../operators/core/errors.js';

/** Which end of the connection an interface is: the client's (NSC side) or the endpoint's. */
export type Side = 'client' | 'endpoint';

/** What one interface should have, from the ConnectionContext (upstream connectioncontextkernel). */
export interface InterfaceConfig {
  readonly mtu: number;
  /** Own addresses, CIDR. */
  readonly addresses: readonly string[];
  /** `ip route` arguments (after `replace`/`del`), e.g. `169.254.0.0/32 dev nsm-1 scope link`. */
  readonly routes: readonly string[];
  /** `ip neigh` arguments, e.g. `169.254.0.0 lladdr 02:… dev nsm-1 nud permanent`. */
  readonly neighbours: readonly string[];
  /** `ip rule` arguments of the policy routes (client side), e.g. `from 10.0.0.0/24 ipproto tcp dport 80 table 1314062336`. */
  readonly rules: readonly string[];
}

const familyOf = (ip: string) => isIP(ip);
const hostLen = (ip: string) => (familyOf(ip) === 4 ? 32 : 128);

/** `a.b.c.d/len` or `x::y/len`, checked: INVALID_ARGUMENT names the field and the value. */
function cidr(value: string, field: string): { ip: string; len: number } {
  const [ip = '', len, extra] = value.split('/');
  const n = Number(len);
  if (extra !== undefined || !familyOf(ip) || len === undefined || !/^\d+$/.test(len) || n > hostLen(ip)) {
    throw invalidArgument(`context.ip_context.${field}: "${value}" is not a CIDR (want address/prefix-length)`);
  }
  return { ip, len: n };
}

function checked(value: string, form: RegExp, field: string, expected: string): string {
  if (!form.test(value)) throw invalidArgument(`context.ip_context.${field}: "${value}" is not ${expected}`);
  return value;
}

function address(value: string, field: string): string {
  if (!familyOf(value)) throw invalidArgument(`context.ip_context.${field}: "${value}" is not an IP address`);
  return value;
}

/** Whether `ip` lies inside `prefix` (same family). */
function contains(prefix: { ip: string; len: number }, ip: string): boolean {
  if (familyOf(prefix.ip) !== familyOf(ip)) return false;
  const bits = (a: string) =>
    familyOf(a) === 4
      ? a.split('.').map((o) => Number(o).toString(2).padStart(8, '0')).join('')
      : expand6(a).map((g) => parseInt(g, 16).toString(2).padStart(16, '0')).join('');
  return bits(prefix.ip).slice(0, prefix.len) === bits(ip).slice(0, prefix.len);
}

function expand6(a: string): string[] {
  const [h = '', t = ''] = a.split('::');
  const hs = h ? h.split(':') : [];
  const ts = t ? t.split(':') : [];
  return a.includes('::') ? [...hs, ...Array<string>(8 - hs.length - ts.length).fill('0'), ...ts] : hs;
}

/**
 * The interface config of one side: the client side owns `src_ip_addrs` and gets
 * `src_routes`, the endpoint side owns `dst_ip_addrs` and gets `dst_routes`. The peer's
 * addresses outside our own prefixes get link-scope routes; routes without a next hop go via
 * the peer's address of the same family, on-link (as upstream's routes element). Every value
 * is validated before anything is configured.
 */
export function interfaceConfig(context: ConnectionContext | undefined, side: Side, ifName: string, tables = { table: 0x4e530000, pref: 20000 }): InterfaceConfig {
  const ip = context?.ipContext;
  const [ownField, peerField, routeField] = side === 'client' ? (['src_ip_addrs', 'dst_ip_addrs', 'src_routes'] as const) : (['dst_ip_addrs', 'src_ip_addrs', 'dst_routes'] as const);
  const own = ((side === 'client' ? ip?.srcIpAddrs : ip?.dstIpAddrs) ?? []).map((a) => cidr(a, ownField));
  const peer = ((side === 'client' ? ip?.dstIpAddrs : ip?.srcIpAddrs) ?? []).map((a) => cidr(a, peerField));
  const wanted: readonly Route[] = (side === 'client' ? ip?.srcRoutes : ip?.dstRoutes) ?? [];
  const dev = `dev ${ifName}`;

  const routes: string[] = [];
  for (const p of peer) if (!own.some((o) => contains(o, p.ip))) routes.push(`${p.ip}/${hostLen(p.ip)} ${dev} scope link`);
  for (const r of wanted) {
    const prefix = cidr(r.prefix, `${routeField}.prefix`);
    const via = r.nextHop ? address(r.nextHop, `${routeField}.next_hop`) : peer.find((p) => familyOf(p.ip) === familyOf(prefix.ip))?.ip;
    // A route to the peer itself is the link route above; one without any same-family peer stays on-link.
    const toPeerItself = via === prefix.ip && prefix.len === hostLen(prefix.ip);
    const line = via && !toPeerItself ? `${prefix.ip}/${prefix.len} via ${via} ${dev} onlink` : `${prefix.ip}/${prefix.len} ${dev} scope link`;
    if (!routes.includes(line) && !(prefix.len === hostLen(prefix.ip) && routes.includes(`${prefix.ip}/${prefix.len} ${dev} scope link`))) routes.push(line);
  }
  const neighbours = (ip?.ipNeighbors ?? []).map((n) => {
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(n.hardwareAddress)) throw invalidArgument(`context.ip_context.ip_neighbors: "${n.hardwareAddress}" is not a MAC address`);
    return `${address(n.ip, 'ip_neighbors.ip')} lladdr ${n.hardwareAddress} ${dev} nud permanent`;
  });
  // Policy routes (upstream iprule, client side only): each policy's routes go into a table of
  // their own (a default route when it lists none), and a rule sends matching traffic there.
  const rules: string[] = [];
  if (side === 'client') {
    (ip?.policies ?? []).forEach((policy, i) => {
      const table = tables.table + i;
      const from = policy.from ? cidr(policy.from, 'policies.from') : undefined;
      const family = from ? familyOf(from.ip) : 4;
      const policyRoutes = policy.routes.length > 0 ? policy.routes : [{ prefix: family === 4 ? '0.0.0.0/0' : '::/0', nextHop: '' }];
      for (const r of policyRoutes) {
        const prefix = cidr(r.prefix, 'policies.routes.prefix');
        const via = r.nextHop ? address(r.nextHop, 'policies.routes.next_hop') : peer.find((p) => familyOf(p.ip) === familyOf(prefix.ip))?.ip;
        routes.push(`${prefix.ip}/${prefix.len}${via ? ` via ${via}` : ''} ${dev} table ${table}${via ? ' onlink' : ''}`);
      }
      const match = [
        ...(from ? [`from ${from.ip}/${from.len}`] : []),
        ...(policy.proto ? [`ipproto ${checked(policy.proto, /^(tcp|udp|icmp|sctp|\d{1,3})$/i, 'policies.proto', 'tcp, udp, icmp, sctp or a protocol number')}`] : []),
        ...(policy.srcPort ? [`sport ${checked(policy.srcPort, /^\d{1,5}(-\d{1,5})?$/, 'policies.src_port', 'a port or a range a-b')}`] : []),
        ...(policy.dstPort ? [`dport ${checked(policy.dstPort, /^\d{1,5}(-\d{1,5})?$/, 'policies.dst_port', 'a port or a range a-b')}`] : []),
      ];
      rules.push([`pref ${tables.pref + i}`, ...match, `table ${table}`].join(' '));
    });
  }
  const mtu = context?.MTU ?? 0;
  if (mtu !== 0 && (mtu < 68 || mtu > 65535)) throw invalidArgument(`context.MTU: ${mtu} is out of range (68–65535)`);
  return { mtu, addresses: own.map((o) => `${o.ip}/${o.len}`), routes, neighbours, rules };
}

/**
 * `ip -batch` lines taking an interface from `before` (undefined: freshly made) to `after`:
 * removes what is no longer wanted, then (re)applies the rest with idempotent verbs and sets
 * the link up. Equal configs give no lines at all (a refresh changes nothing).
 */
export function configLines(ifName: string, after: InterfaceConfig, before?: InterfaceConfig): string[] {
  if (before && sameConfig(before, after)) return [];
  const gone = (xs: readonly string[] | undefined, keep: readonly string[]) => (xs ?? []).filter((x) => !keep.includes(x));
  return [
    ...gone(before?.rules, after.rules).map((r) => `rule del ${r}`),
    ...gone(before?.neighbours, after.neighbours).map((n) => `neigh del ${n.split(' lladdr ')[0] ?? n} dev ${ifName}`),
    ...gone(before?.routes, after.routes).map((r) => `route del ${r}`),
    ...gone(before?.addresses, after.addresses).map((a) => `addr del ${a} dev ${ifName}`),
    ...(after.mtu ? [`link set dev ${ifName} mtu ${after.mtu}`] : []),
    ...after.addresses.map((a) => `addr replace ${a} dev ${ifName}${familyOf(a.split('/')[0] ?? '') === 6 ? ' nodad' : ''}`),
    `link set dev ${ifName} up`,
    ...after.routes.map((r) => `route replace ${r}`),
    ...after.neighbours.map((n) => `neigh replace ${n}`),
    // `rule add` is not idempotent: only the new ones.
    ...after.rules.filter((r) => !before?.rules.includes(r)).map((r) => `rule add ${r}`),
  ];
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const sameConfig = (a: InterfaceConfig, b: InterfaceConfig) =>
  a.mtu === b.mtu && sameList(a.addresses, b.addresses) && sameList(a.routes, b.routes) && sameList(a.neighbours, b.neighbours) && sameList(a.rules, b.rules);

/** Lines removing what outlives the interface (its routes go with it; policy rules do not). */
export function teardownLines(config: InterfaceConfig): string[] {
  return config.rules.map((r) => `rule del ${r}`);
}

import { defer } from 'rxjs';
import { map, take, tap } from 'rxjs/operators';
import { State, type Connection } from '../../proto/gen/connection.js';
import { ConnectionContext, DNSConfig, DNSContext } from '../../proto/gen/connectioncontext.js';
import type { ConnectionMonitor } from '../../streams/monitorConnections.js';
import { cloneConnection } from '../core/clone.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { tryParseIp } from '../tools/cidr.js';
import type { Vl3Dns } from '../tools/vl3Dns.js';
import { eventFactoryOf } from './begin/eventFactory.js';
import { containsDnsConfig } from './dnsContext.js';

/** `vl3DnsServer` with the names it holds per connection (leak checks). */
export interface Vl3DnsServerElement extends NetworkServiceElement {
  readonly names: ReadonlyMap<string, readonly string[]>;
}

/** The connection's addresses without their prefix length. */
export const hostIps = (addresses: readonly string[] = []): string[] => addresses.map((a) => a.split('/')[0] ?? '').filter((a) => tryParseIp(a) !== undefined);

/** `nsc.vl3.cluster.` → `vl3.cluster`, `cluster` (upstream: every parent domain of every name). */
const searchDomainsOf = (names: readonly string[]): string[] =>
  names.flatMap((name) => {
    const labels = name.replace(/^\.+|\.+$/g, '').split('.');
    return labels.slice(1).map((_, i) => labels.slice(i + 1).join('.'));
  });

const sameNames = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((n, i) => n === b[i]);

/** Adds `config` to the connection's DNS context unless an equal one is there. */
function addConfig(conn: Connection, config: DNSConfig): void {
  conn.context ??= ConnectionContext.fromPartial({});
  conn.context.dnsContext ??= DNSContext.fromPartial({});
  const configs = conn.context.dnsContext.configs;
  if (!containsDnsConfig(configs, config)) configs.push(config);
}

/** The DNS servers a caller named at its own address: it is another vl3 NSE, and that is its DNS server. */
function peersNamed(asked: readonly DNSConfig[], answer: Connection, own: string | undefined): DNSConfig[] {
  const callers = new Set(hostIps(answer.context?.ipContext?.srcIpAddrs).filter((ip) => ip !== own));
  return asked.filter((c) => c.dnsServerIps.some((ip) => callers.has(ip)));
}

/**
 * `vl3DnsServer(dns, connections)` (vl3 NSE, upstream dnscontext/vl3dns server, before the vl3
 * IPAM): each connection's names (the DNS templates over it) answer with its source addresses
 * on the NSE's DNS server; the answer's DNS context names that server, with every parent domain
 * of the names as search domains. A caller whose DNS server is at its own address (another vl3
 * NSE) has it become one the DNS server asks for names it does not know. When the NSE has no DNS
 * address yet, the Request still succeeds and, once it has one, the connection is published
 * REFRESH_REQUESTED so its client asks again. Names change with a refresh; Close forgets them.
 *
 * ```
 * request(nsc0)  → answer dns [{10.0.0.0, search vl3}];  nsc0.vl3. → 10.0.0.1
 * close(nsc0)    → nsc0.vl3. unknown
 * ```
 */
export function vl3DnsServer(dns: Vl3Dns, connections: ConnectionMonitor): Vl3DnsServerElement {
  const names = new Map<string, readonly string[]>();
  const loopKey = Symbol('vl3DnsServer');
  const forget = (id: string) => {
    dns.forget(names.get(id) ?? []);
    names.delete(id);
    dns.setPeers(`server:${id}`, []);
  };
  return {
    names,
    request: (request, ctx, next) =>
      defer(() => {
        const conn = request.connection;
        const id = conn?.id ?? '';
        const asked = (conn?.context?.dnsContext?.configs ?? []).map((c) => DNSConfig.fromPartial(c));
        const recordNames = conn ? dns.namesOf(conn) : [];
        const previous = names.get(id);
        if (previous && !sameNames(previous, recordNames)) forget(id);
        return next.request(request, ctx).pipe(
          map((answer) => {
            const own = dns.serverIp();
            if (own !== undefined) addConfig(answer, DNSConfig.fromPartial({ dnsServerIps: [own], searchDomains: searchDomainsOf(recordNames) }));
            const ips = hostIps(answer.context?.ipContext?.srcIpAddrs);
            if (ips.length > 0) {
              dns.store(recordNames, ips);
              names.set(id, recordNames);
            }
            dns.setPeers(`server:${id}`, peersNamed(asked, answer, own));
            if (own === undefined) {
              const refreshRequested = { ...cloneConnection(answer), state: State.REFRESH_REQUESTED };
              eventFactoryOf(ctx)?.loop(loopKey, dns.serverIp$.pipe(take(1), tap(() => connections.update(refreshRequested))));
            }
            return answer;
          }),
        );
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        forget(conn.id);
        return next.close(conn, ctx);
      }),
  };
}

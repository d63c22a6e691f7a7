import { isIPv4 } from 'node:net';
import { BehaviorSubject, combineLatest, map } from 'rxjs';
import type { DNSConfig } from '../../proto/gen/connectioncontext.js';
import { dnsContextClient, type DnsContextClientElement } from '../../operators/networkservice/dnsContextClient.js';
import { serveDnsProxy } from '../../streams/dns/dnsProxy.js';
import { clientResolvConf, manageResolvConf, type ManagedResolvConf } from '../../dataplane/kernel/resolvConf.js';
import { messageOf } from '../../operators/core/errors.js';
import type { RunContext } from '../cli/components.js';
import { InvalidValue, str, variable } from '../cli/config.js';

/** `host:port` of the local DNS server; an empty host is every IPv4 address (Go's `:53`). */
export interface DnsAddress {
  readonly host: string;
  readonly port: number;
}

export const localDnsAddress = variable<DnsAddress>({
  env: 'NSM_LOCAL_DNS_SERVER_ADDRESS',
  def: '127.0.0.1:53',
  description: 'Where the local DNS server listens (UDP, in this netns); the resolver is pointed at its host, so keep port 53',
  kind: 'address',
  expected: 'IPv4:port, e.g. 127.0.0.1:53',
  parse: (s) => {
    const m = /^([^:]*):(\d+)$/.exec(s.trim());
    const port = Number(m?.[2]);
    if (m === null || !(m[1] === '' || isIPv4(m[1] ?? '')) || port < 1 || port > 65535) throw new InvalidValue();
    return { host: m[1] === '' ? '0.0.0.0' : (m[1] ?? ''), port };
  },
});

export const localDnsResolvConf = str(
  'NSM_LOCAL_DNS_RESOLV_CONF',
  '',
  'The resolv.conf to point at the local DNS server (nsm-rx); empty: in a pod /etc/resolv.conf as upstream, in a netns named by "ip netns add NAME" /etc/netns/NAME/resolv.conf, otherwise none',
);

/**
 * Upstream cmd-nsc's local DNS server: the DNS proxy at NSM_LOCAL_DNS_SERVER_ADDRESS in this
 * process's netns (the client's), asking the servers of the connections' DNS contexts (what the
 * returned `dnsContextClient` collects) and, while there is a connection, the servers the
 * resolver named before (upstream's fallback); and that resolver pointed at the proxy. All of it
 * is undone when the nsc stops, after its connections are closed. A proxy that cannot listen, or
 * a resolver that cannot be rewritten, is logged and the nsc goes on without it (as upstream).
 */
export async function startLocalDns(config: { localDnsServerAddress: DnsAddress; localDnsResolvConf: string }, ctx: RunContext): Promise<DnsContextClientElement> {
  const element = dnsContextClient();
  const fallback = new BehaviorSubject<DNSConfig | undefined>(undefined);
  const configs = combineLatest([element.configs, fallback]).pipe(map(([own, before]) => (own.length > 0 && before ? [...own, before] : own)));
  const { host, port } = config.localDnsServerAddress;
  const proxy = await serveDnsProxy({ host, port, configs }).catch((e: unknown) => {
    ctx.log.error('local DNS server not started', { address: `${host}:${port}`, error: messageOf(e) });
    return undefined;
  });
  if (proxy === undefined) return element;
  const target = config.localDnsResolvConf !== '' ? { path: config.localDnsResolvConf, why: 'NSM_LOCAL_DNS_RESOLV_CONF' } : clientResolvConf(ctx.env);
  let managed: ManagedResolvConf | undefined;
  if (target === undefined) ctx.log.info('local DNS server without a resolver pointed at it: this netns has no resolv.conf of its own (not a pod, not an "ip netns add" one)', { address: `${host}:${port}` });
  else {
    try {
      managed = manageResolvConf(target.path, host === '0.0.0.0' ? '127.0.0.1' : host);
      fallback.next(managed.original);
      ctx.log.info('resolver pointed at the local DNS server', { resolvConf: target.path, why: target.why, address: `${host}:${port}` });
    } catch (e) {
      ctx.log.error('cannot point the resolver at the local DNS server', { resolvConf: target.path, error: messageOf(e) });
    }
  }
  // The connections' search domains go to the resolver, which expands names before asking the proxy.
  const searches = element.configs.subscribe((cs) => managed?.search(cs.flatMap((c) => c.searchDomains)));
  ctx.lifecycle.onShutdown('local DNS server', async () => {
    searches.unsubscribe();
    try {
      managed?.restore();
    } catch (e) {
      ctx.log.warn('cannot restore the resolver', { resolvConf: target?.path, error: messageOf(e) });
    }
    await proxy.close();
  });
  return element;
}

import { isIPv4 } from 'node:net';
import { dnsContextClient, type DnsContextClientElement } from '../../operators/networkservice/dnsContextClient.js';
import { serveDnsProxy } from '../../streams/dns/dnsProxy.js';
import { clientResolvConf, manageResolvConf, type ManagedResolvConf } from '../../dataplane/kernel/resolvConf.js';
import { messageOf } from '../../operators/core/errors.js';
import type { RunContext } from '../cli/component.js';
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
 * Upstream cmd-nsc's local DNS server: this process's netns's (the client's) resolver pointed at
 * a DNS proxy at NSM_LOCAL_DNS_SERVER_ADDRESS there, which asks the servers of the connections'
 * DNS contexts (what the returned `dnsContextClient` collects) and, while there is a connection,
 * the servers the resolver named before (upstream's fallback). None of it without a resolver of
 * the client's own (see clientResolvConf). All of it is undone when the nsc stops, after its
 * connections are closed. A proxy that cannot listen (the resolver is then put back at once),
 * or a resolver that cannot be rewritten, is logged and the nsc goes on without it, as upstream.
 */
export async function startLocalDns(config: { localDnsServerAddress: DnsAddress; localDnsResolvConf: string }, ctx: RunContext): Promise<DnsContextClientElement | undefined> {
  const { host, port } = config.localDnsServerAddress;
  const address = `${host}:${port}`;
  const target = config.localDnsResolvConf !== '' ? { path: config.localDnsResolvConf, why: 'NSM_LOCAL_DNS_RESOLV_CONF' } : clientResolvConf(ctx.env);
  if (target === undefined) {
    // Nobody would ask it, and in the host's netns it would hold the host's port 53.
    ctx.log.info('no local DNS server: this netns has no resolv.conf of its own (not a pod, not an "ip netns add" one); NSM_LOCAL_DNS_RESOLV_CONF names one', { address });
    return undefined;
  }
  let managed: ManagedResolvConf | undefined;
  try {
    managed = manageResolvConf(target.path, host === '0.0.0.0' ? '127.0.0.1' : host);
    ctx.log.info('resolver pointed at the local DNS server', { resolvConf: target.path, why: target.why, address });
  } catch (e) {
    ctx.log.error('cannot point the resolver at the local DNS server', { resolvConf: target.path, error: messageOf(e) });
  }
  const element = dnsContextClient(managed?.original ? { fallback: managed.original } : {});
  const restore = () => {
    try {
      managed?.restore();
    } catch (e) {
      ctx.log.warn('cannot restore the resolver', { resolvConf: target.path, error: messageOf(e) });
    }
  };
  const proxy = await serveDnsProxy({ host, port, configs: element.configs }).catch((e: unknown) => {
    ctx.log.error('local DNS server not started', { address, error: messageOf(e) });
    restore();
    return undefined;
  });
  if (proxy === undefined) return element;
  // The connections' search domains go to the resolver, which expands names before asking the proxy.
  const searches = element.configs.subscribe((cs) => managed?.search(cs.flatMap((c) => c.searchDomains)));
  ctx.lifecycle.onShutdown('local DNS server', async () => {
    searches.unsubscribe();
    restore();
    await proxy.close();
  });
  return element;
}

import { Resolver } from 'node:dns/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Connection } from '../../proto/gen/connection.js';
import type { IPContext } from '../../proto/gen/connectioncontext.js';
import { strictVl3Ipam } from '../../operators/networkservice/strictVl3Ipam.js';
import { vl3Client } from '../../operators/networkservice/vl3Client.js';
import { vl3DnsClient } from '../../operators/networkservice/vl3DnsClient.js';
import { vl3DnsServer } from '../../operators/networkservice/vl3DnsServer.js';
import { vl3MtuServer } from '../../operators/networkservice/vl3MtuServer.js';
import { vl3Server } from '../../operators/networkservice/vl3Server.js';
import { cidrContains, parseCidr, parseIp } from '../../operators/tools/cidr.js';
import { parseDnsTemplate } from '../../operators/tools/dnsTemplate.js';
import { Vl3Dns } from '../../operators/tools/vl3Dns.js';
import { Vl3Ipam } from '../../operators/tools/vl3Ipam.js';
import type { DnsProxy } from '../../streams/dns/dnsProxy.js';
import { serveVl3Dns } from '../../streams/dns/vl3Dns.js';
import { startDnsServer } from '../dnsServer.js';
import type { Domain } from './domain.js';
import { useDomains } from './domainHarness.js';
import { freePort } from './sandbox.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: {} };
const byPodName = parseDnsTemplate('{{ index .Labels "podName" }}.{{ .NetworkService }}.');
const interdomainScheme = parseDnsTemplate('{{ index .Labels "podName" }}.{{ target .NetworkService }}.{{ domain .NetworkService }}.');
const request = (id: string, networkService: string, podName = 'nsc') => ({ connection: { id, networkService, labels: { podName } }, mechanismPreferences: [kernel] });

/** Every address of the IP context lies in `prefix` (upstream checkIPContext). */
const allIn = (ip: IPContext | undefined, prefix: string): boolean =>
  [...(ip?.srcIpAddrs ?? []), ...(ip?.dstIpAddrs ?? [])].every((a) => cidrContains(parseCidr(prefix), parseIp(a.split('/')[0] ?? '')));

/**
 * Upstream's vl3 scenarios (sdk chains/nsmgr/vl3_test.go) on real gRPC and a real DNS server:
 * the vl3 NSE's elements (vl3DnsServer, vl3MtuServer, strictVl3Ipam, vl3Server) behind an nsmgr
 * and a forwarder, its DNS (serveVl3Dns) on a loopback port, asked as a client's resolver would.
 */
describe('vl3 (upstream nsmgr vl3 scenarios)', () => {
  const domains = useDomains();
  const servers: DnsProxy[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  /** A vl3 NSE `name` in `d` serving `service` with `ipam`; its DNS answers on a loopback port, asking peers at `peerPort`. */
  async function vl3Endpoint(d: Domain, name: string, service: string, ipam: Vl3Ipam, dns: Vl3Dns, peerPort?: number): Promise<Resolver> {
    const server = await serveVl3Dns(dns, { host: '127.0.0.1', port: await freePort(), ...(peerPort ? { serverPort: peerPort } : {}) });
    servers.push(server);
    await d.mesh.endpoint(0, name, { services: [service], registerServices: false, additional: (monitor) => [vl3DnsServer(dns, monitor), vl3MtuServer(monitor), strictVl3Ipam(ipam), vl3Server(ipam)] });
    const resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`127.0.0.1:${server.port}`]);
    return resolver;
  }

  it('Test_NSC_ConnectsTo_vl3NSE: each of 10 clients gets one DNS config, is found by its name, also after a refresh, and not after its Close', async () => {
    const d = await domains.domain('cluster1', { proxies: false });
    await d.registerService('vl3');
    const dns = new Vl3Dns([byPodName]);
    dns.setServerIp('127.0.0.1');
    const resolver = await vl3Endpoint(d, 'nse', 'vl3', new Vl3Ipam('169.254.0.0/24'), dns);
    for (let i = 0; i < 10; i++) {
      const nsc = d.nsc(`nsc${i}`);
      const conn = await nsc.request(request(`c${i}`, 'vl3', `nsc${i}`));
      expect(conn.context?.dnsContext?.configs).toHaveLength(1);
      expect(conn.context?.dnsContext?.configs[0]?.dnsServerIps).toEqual(['127.0.0.1']);
      expect(await resolver.resolve4(`nsc${i}.vl3`)).toEqual(['169.254.0.1']);
      const refreshed = await nsc.request({ ...request(`c${i}`, 'vl3', `nsc${i}`), connection: conn });
      expect(await resolver.resolve4(`nsc${i}.vl3`)).toEqual(['169.254.0.1']);
      await nsc.close(refreshed);
      await expect(resolver.resolve4(`nsc${i}.vl3`)).rejects.toThrow();
    }
  });

  it('Test_vl3NSE_ConnectsTo_vl3NSE: another vl3 NSE keeps its own address, is named by its DNS name, and its DNS server answers the names this one does not know (fanout) until the Close', async () => {
    const d = await domains.domain('cluster1', { proxies: false });
    await d.registerService('vl3');
    const peerDns = await startDnsServer({ 'nsc1.vl3': '169.254.200.1' });
    try {
      const dns = new Vl3Dns([byPodName]);
      dns.setServerIp('0.0.0.0');
      const resolver = await vl3Endpoint(d, 'nse', 'vl3', new Vl3Ipam('169.254.0.0/24'), dns, peerDns.port);
      // The other NSE: its own DNS server at its own address 127.0.0.1.
      const ownDns = new Vl3Dns([byPodName]);
      ownDns.setServerIp('127.0.0.1');
      const peer = d.nsc('nse-2', { additional: [vl3DnsClient(ownDns), vl3Client(new Vl3Ipam('127.0.0.1/32'))] });
      const conn = await peer.request(request('p', 'vl3', 'nsc'));
      expect(conn.context?.dnsContext?.configs[0]?.dnsServerIps).toEqual(['127.0.0.1']);
      expect(conn.context?.ipContext?.srcIpAddrs[0]).toBe('127.0.0.1/32');
      const lookups = async () => [await resolver.resolve4('nsc.vl3'), await resolver.resolve4('nsc1.vl3')];
      expect(await lookups()).toEqual([['127.0.0.1'], ['169.254.200.1']]);
      const refreshed: Connection = await peer.request({ ...request('p', 'vl3', 'nsc'), connection: conn });
      expect(await lookups()).toEqual([['127.0.0.1'], ['169.254.200.1']]);
      await peer.close(refreshed);
      await expect(resolver.resolve4('nsc.vl3')).rejects.toThrow();
      await expect(resolver.resolve4('nsc1.vl3')).rejects.toThrow();
    } finally {
      await peerDns.close();
    }
  });

  it('Test_NSC_GetsVl3DnsAddressDelay: a client is served before the NSE knows its DNS address; the next Request names it', async () => {
    const d = await domains.domain('cluster1', { proxies: false });
    await d.registerService('vl3');
    const dns = new Vl3Dns([byPodName]);
    await vl3Endpoint(d, 'nse', 'vl3', new Vl3Ipam('169.254.0.0/24'), dns);
    const nsc = d.nsc();
    const conn = await nsc.request(request('c1', 'vl3'));
    expect(conn.context?.dnsContext?.configs ?? []).toEqual([]);
    dns.setServerIp('169.254.0.0');
    const refreshed = await nsc.request({ ...request('c1', 'vl3'), connection: conn });
    expect(refreshed.context?.dnsContext?.configs.map((c) => c.dnsServerIps)).toEqual([['169.254.0.0']]);
    await nsc.close(refreshed);
  });

  it('Test_vl3NSE_ConnectsTo_Itself: a client named as the NSE (how upstream gives the NSE an address of its own) is served', async () => {
    const d = await domains.domain('cluster1', { proxies: false });
    await d.registerService('vl3');
    const dns = new Vl3Dns([]);
    await vl3Endpoint(d, 'vl3-nse', 'vl3', new Vl3Ipam('169.254.0.0/24'), dns);
    const self = d.nsc('vl3-nse');
    const conn = await self.request(request('self', 'vl3'));
    expect(conn.context?.ipContext?.srcIpAddrs).toEqual(['169.254.0.1/32']);
    await self.close(conn);
  });

  it('Test_NSC_ConnectsTo_vl3NSE_With_Invalid_IpContext: a refresh keeps the IP context; after the NSE’s new prefix every address moves into it and stays', async () => {
    const d = await domains.domain('cluster1', { proxies: false });
    await d.registerService('vl3');
    const ipam = new Vl3Ipam('169.254.0.0/24');
    await vl3Endpoint(d, 'nse', 'vl3', ipam, new Vl3Dns([]));
    const nsc = d.nsc();
    const refresh = (conn: Connection) => nsc.request({ ...request('c1', 'vl3'), connection: conn });
    const first = await nsc.request(request('c1', 'vl3'));
    expect(allIn(first.context?.ipContext, '169.254.0.0/24')).toBe(true);
    const kept = await refresh(first);
    expect(kept.context?.ipContext).toEqual(first.context?.ipContext);
    ipam.reset('169.254.10.0/24');
    const moved = await refresh(kept);
    expect(allIn(moved.context?.ipContext, '169.254.0.0/24')).toBe(false);
    expect(allIn(moved.context?.ipContext, '169.254.10.0/24')).toBe(true);
    const keptAgain = await refresh(moved);
    expect(keptAgain.context?.ipContext).toEqual(moved.context?.ipContext);
    await nsc.close(keptAgain);
  });

  it('Test_Interdomain_vl3_dns: a client of cluster1 asks vl3@cluster2; the NSE sees plain vl3, names it nsc.vl3 and gives one search domain', async () => {
    const cluster1 = await domains.domain('cluster1');
    const cluster2 = await domains.domain('cluster2');
    await cluster2.registerService('vl3');
    const dns = new Vl3Dns([interdomainScheme]);
    dns.setServerIp('127.0.0.1');
    const resolver = await vl3Endpoint(cluster2, 'final-endpoint', 'vl3', new Vl3Ipam('169.254.0.0/24'), dns);
    const nsc = cluster1.nsc();
    const conn = await nsc.request(request('c1', 'vl3@cluster2'));
    const config = conn.context?.dnsContext?.configs;
    expect(config).toHaveLength(1);
    expect(config?.[0]?.dnsServerIps).toHaveLength(1);
    expect(config?.[0]?.searchDomains).toEqual(['vl3']);
    expect(await resolver.resolve4('nsc.vl3')).toEqual(['169.254.0.1']);
    const refreshed = await nsc.request({ ...request('c1', 'vl3@cluster2'), connection: conn });
    expect(await resolver.resolve4('nsc.vl3')).toEqual(['169.254.0.1']);
    await nsc.close(refreshed);
    await expect(resolver.resolve4('nsc.vl3')).rejects.toThrow();
  });

  it('Test_FloatingInterdomain_vl3_dns: vl3@floating.domain served in cluster2; the NSE names the client nsc.vl3.floating.domain with three search domains', async () => {
    const cluster1 = await domains.domain('cluster1');
    const cluster2 = await domains.domain('cluster2');
    await domains.domain('floating.domain', { nodes: 0, proxies: false });
    await cluster2.registerService('vl3@floating.domain');
    const dns = new Vl3Dns([interdomainScheme]);
    dns.setServerIp('127.0.0.1');
    const resolver = await vl3Endpoint(cluster2, 'final-endpoint@floating.domain', 'vl3', new Vl3Ipam('169.254.0.0/24'), dns);
    const nsc = cluster1.nsc();
    const conn = await nsc.request(request('c1', 'vl3@floating.domain'));
    const searchDomains = conn.context?.dnsContext?.configs[0]?.searchDomains ?? [];
    expect(conn.context?.dnsContext?.configs).toHaveLength(1);
    expect(searchDomains).toEqual(['vl3.floating.domain', 'floating.domain', 'domain']);
    expect(await resolver.resolve4(`nsc.${searchDomains[0]}`)).toEqual(['169.254.0.1']);
    const refreshed = await nsc.request({ ...request('c1', 'vl3@floating.domain'), connection: conn });
    expect(await resolver.resolve4(`nsc.${searchDomains[0]}`)).toEqual(['169.254.0.1']);
    await nsc.close(refreshed);
    await expect(resolver.resolve4(`nsc.${searchDomains[0]}`)).rejects.toThrow();
  });
});

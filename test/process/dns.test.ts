import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { dnsServerCommand } from '../dnsServer.js';
import { describeKernel, resolves, useNamespaces } from '../kernel/namespaces.js';
import { nscEvents, stop } from './processMesh.js';
import { useProcessMesh } from './useProcessMesh.js';

const mesh = useProcessMesh();

describeKernel('the nsc’s local DNS server across OS processes', () => {
  const ns = useNamespaces();

  it('a name asked from the client netns is answered by the DNS server (dns2) the NSE’s DNS context names, through the nsc’s proxy; the search domain applies; after SIGTERM nothing is left', async () => {
    const [host, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    mesh().node(host, 0);
    // The DNS server on the NSE side, reachable from the client over the connection (169.254.1.0).
    mesh().run(nseNs, dnsServerCommand({ 'db.service.nsm': '169.254.7.7' }), {});
    mesh().start(nseNs, 'nse-icmp-responder', {
      NSM_NAME: 'icmp-responder',
      NSM_CONNECT_TO: mesh().sock('nsmgr-0'),
      NSM_SERVICE_NAMES: 'icmp-responder',
      NSM_CIDR_PREFIX: '169.254.1.0/24',
      NSM_DNS_CONFIGS: '[{"dns_server_ips":["169.254.1.0"],"search_domains":["service.nsm"]}]',
    });
    const resolvConf = `/etc/netns/${nscNs}/resolv.conf`;
    expect(existsSync(resolvConf)).toBe(false);
    const client = mesh().nsc(nscNs); // NSM_LOCAL_DNS_SERVER_ENABLED defaults to true, at 127.0.0.1:53
    await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 20_000 }).toBe(1);

    expect(readFileSync(resolvConf, 'utf8')).toMatch(/^nameserver 127\.0\.0\.1\nsearch service\.nsm\n/m);
    expect(resolves(nscNs, 'db.service.nsm')).toBe('169.254.7.7');
    expect(resolves(nscNs, 'db')).toBe('169.254.7.7'); // expanded with the connection's search domain
    expect(resolves(nscNs, 'unknown.service.nsm')).toBe('');
    expect(execFileSync('ip', ['netns', 'exec', nscNs, 'ss', '-Hltun', 'sport = :53'], { encoding: 'utf8' }).match(/^(udp|tcp)/gm)?.sort()).toEqual(['tcp', 'udp']); // as upstream's
    expect(existsSync('/etc/resolv.conf') && readFileSync('/etc/resolv.conf', 'utf8')).not.toMatch(/nsm-rx/); // the host's untouched

    expect(await stop(client)).toBe(0);
    expect(existsSync(`/etc/netns/${nscNs}`)).toBe(false);
    expect(execFileSync('ip', ['netns', 'exec', nscNs, 'ss', '-Hltun'], { encoding: 'utf8' })).toBe(''); // the proxy's sockets (UDP, TCP) went with it
  });
});

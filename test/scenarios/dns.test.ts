import { Resolver } from 'node:dns/promises';
import { describe, expect, it } from 'vitest';
import { dnsContextClient } from '../../operators/networkservice/dnsContextClient.js';
import { serveDnsProxy } from '../../streams/dns/dnsProxy.js';
import { startDnsServer } from '../dnsServer.js';
import { useSandbox } from '../sandbox/harness.js';
import { Mesh } from '../sandbox/mesh.js';

describe('chains/nsmgr dns_test (upstream scenario)', () => {
  const h = useSandbox();

  it('Test_DNSUsecase: before the connection the client’s DNS proxy resolves nothing; with it, my.domain and my.domain.com come from the DNS server its DNS config names', async () => {
    const mesh = await Mesh.build(h.sandbox);
    await mesh.endpoint(0, 'final-endpoint');
    // The DNS server "on the NSE side" (a dns2 server) and the client's local proxy.
    const upstream = await startDnsServer({ 'my.domain': '4.4.4.4', 'my.domain.com': '5.5.5.5' });
    const dns = dnsContextClient();
    const proxy = await serveDnsProxy({ configs: dns.configs, timeoutMs: 1000 });
    const resolver = new Resolver({ timeout: 3000, tries: 1 });
    resolver.setServers([`127.0.0.1:${proxy.port}`]);
    try {
      const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { additional: [dns] });
      await expect(resolver.resolve4('my.domain')).rejects.toBeDefined();
      const conn = await nsc.request({
        connection: { id: '1', networkService: 'ns', context: { dnsContext: { configs: [{ dnsServerIps: [`127.0.0.1:${upstream.port}`], searchDomains: ['com'] }] } } },
        mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: {} }],
      });
      expect(await resolver.resolve4('my.domain')).toEqual(['4.4.4.4']);
      expect(await resolver.resolve4('my.domain.com')).toEqual(['5.5.5.5']);
      await nsc.close(conn);
      await expect(resolver.resolve4('my.domain')).rejects.toBeDefined(); // its configs went with it
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});

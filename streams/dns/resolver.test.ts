import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { firstValueFrom } from 'rxjs';
import { startDnsServer } from '../../test/dnsServer.js';
import { DnsLookupError, dnsResolver, parseResolvConf } from './resolver.js';

/** A UDP socket on loopback that hears queries and never answers (a dead name server). */
async function silentServer(): Promise<{ port: number; heard: () => number; close: () => void }> {
  const socket: Socket = createSocket('udp4');
  let heard = 0;
  socket.on('message', () => heard++);
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return { port: socket.address().port, heard: () => heard, close: () => socket.close() };
}

describe('dnsResolver (a real dns2 server on loopback)', () => {
  const stops: (() => unknown)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
  });

  it('finds the SRV port and the addresses of a name, as upstream dnsresolve asks for them', async () => {
    const dns = await startDnsServer({ 'registry.nsm-system.cluster2': { a: ['169.254.2.1'], aaaa: ['fd00::2'], srvPort: 5002 } });
    stops.push(() => dns.close());
    const resolver = dnsResolver({ servers: [{ address: '127.0.0.1', port: dns.port }], timeoutMs: 1000 });
    await expect(firstValueFrom(resolver.srv('registry.nsm-system.cluster2'))).resolves.toEqual([{ target: 'registry.nsm-system.cluster2', port: 5002, priority: 0, weight: 0 }]);
    await expect(firstValueFrom(resolver.ip('registry.nsm-system.cluster2'))).resolves.toEqual(['169.254.2.1', 'fd00::2']);
  });

  it('an unknown name is not found at once (NXDOMAIN is final); a name without SRV is not found either', async () => {
    const dns = await startDnsServer({ 'only-a.cluster2': '169.254.2.9' });
    stops.push(() => dns.close());
    const resolver = dnsResolver({ servers: [{ address: '127.0.0.1', port: dns.port }], timeoutMs: 1000, attempts: 3 });
    const nx = await firstValueFrom(resolver.srv('registry.nsm-system.nowhere')).catch((e: unknown) => e);
    expect(nx).toBeInstanceOf(DnsLookupError);
    expect(nx).toMatchObject({ reason: 'not-found', lookedUp: 'registry.nsm-system.nowhere', type: 'SRV' });
    expect(dns.queries()).toBe(1);
    await expect(firstValueFrom(resolver.srv('only-a.cluster2'))).rejects.toMatchObject({ reason: 'not-found', message: 'SRV only-a.cluster2: no SRV record' });
  });

  it('a silent server times out on every attempt; with a second server the answer comes from it', async () => {
    const silent = await silentServer();
    stops.push(() => silent.close());
    const dns = await startDnsServer({ 'nsmgr-proxy.nsm-system.cluster2': { a: ['169.254.2.2'], srvPort: 5004 } });
    stops.push(() => dns.close());
    const alone = dnsResolver({ servers: [{ address: '127.0.0.1', port: silent.port }], timeoutMs: 100, attempts: 2 });
    await expect(firstValueFrom(alone.srv('nsmgr-proxy.nsm-system.cluster2'))).rejects.toMatchObject({ reason: 'timeout', message: expect.stringMatching(/no answer within 100 ms/) });
    expect(silent.heard()).toBe(2);
    const both = dnsResolver({ servers: [{ address: '127.0.0.1', port: silent.port }, { address: '127.0.0.1', port: dns.port }], timeoutMs: 100 });
    await expect(firstValueFrom(both.srv('nsmgr-proxy.nsm-system.cluster2'))).resolves.toMatchObject([{ port: 5004 }]);
  });

  it('reads name servers and timeout/attempts from resolv.conf', () => {
    expect(parseResolvConf('# comment\nsearch svc.cluster.local\nnameserver 10.96.0.10\nnameserver fe80::1%eth0\noptions ndots:5 timeout:2 attempts:3\n')).toEqual({
      servers: [
        { address: '10.96.0.10', port: 53 },
        { address: 'fe80::1', port: 53 },
      ],
      timeoutMs: 2000,
      attempts: 3,
    });
    expect(parseResolvConf('')).toEqual({ servers: [] });
  });
});

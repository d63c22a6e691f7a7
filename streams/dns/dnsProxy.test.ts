import { Resolver } from 'node:dns/promises';
import { createServer, type AddressInfo } from 'node:net';
import dns2 from 'dns2';
import { BehaviorSubject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { DNSConfig } from '../../proto/gen/connectioncontext.js';
import { startDnsServer } from '../../test/dnsServer.js';
import { serveDnsProxy } from './dnsProxy.js';
import { answerFromRecords } from './records.js';

const resolverAt = (port: number) => {
  const r = new Resolver({ timeout: 3000, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  return r;
};

describe('DNS proxy (the client side of DNS configs)', () => {
  it('answers from the servers of the current configs (first success wins), SERVFAIL without any; follows config changes; closes clean', async () => {
    const good = await startDnsServer({ 'my.domain': '4.4.4.4' });
    const configs = new BehaviorSubject<readonly DNSConfig[]>([]);
    const proxy = await serveDnsProxy({ configs, timeoutMs: 1000 });
    try {
      const resolver = resolverAt(proxy.port);
      await expect(resolver.resolve4('my.domain')).rejects.toMatchObject({ code: 'ESERVFAIL' });
      // An unreachable server beside a good one: the good one's answer comes back.
      configs.next([DNSConfig.fromPartial({ dnsServerIps: ['127.0.0.1:9', `127.0.0.1:${good.port}`] })]);
      expect(await resolver.resolve4('my.domain')).toEqual(['4.4.4.4']);
      await expect(resolver.resolve4('other.domain')).rejects.toMatchObject({ code: 'ENOTFOUND' });
      configs.next([DNSConfig.fromPartial({ dnsServerIps: ['127.0.0.1:9'] })]); // nobody answers
      await expect(resolver.resolve4('my.domain')).rejects.toMatchObject({ code: 'ESERVFAIL' });
    } finally {
      await proxy.close();
      await good.close();
    }
  });

  it('a success wins over a faster failure (upstream fanout): a server that does not know the name does not hide one that does', async () => {
    const knows = await startDnsServer({ 'my.domain': '4.4.4.4' }, 200);
    const knowsNothing = await startDnsServer({});
    const proxy = await serveDnsProxy({ configs: new BehaviorSubject([DNSConfig.fromPartial({ dnsServerIps: [`127.0.0.1:${knowsNothing.port}`, `127.0.0.1:${knows.port}`] })]), timeoutMs: 2000 });
    try {
      expect(await resolverAt(proxy.port).resolve4('my.domain')).toEqual(['4.4.4.4']);
      await expect(resolverAt(proxy.port).resolve4('other.domain')).rejects.toMatchObject({ code: 'ENOTFOUND' }); // every server said NXDOMAIN
    } finally {
      await proxy.close();
      await knows.close();
      await knowsNothing.close();
    }
  });

  it('a config naming the proxy itself (upstream noloop): the query coming back fails at once instead of going round again; the real server is asked once and answers', async () => {
    const good = await startDnsServer({ 'my.domain': '4.4.4.4' });
    const configs = new BehaviorSubject<readonly DNSConfig[]>([]);
    const proxy = await serveDnsProxy({ configs, timeoutMs: 1000 });
    try {
      configs.next([DNSConfig.fromPartial({ dnsServerIps: [`127.0.0.1:${proxy.port}`] })]);
      await expect(resolverAt(proxy.port).resolve4('my.domain')).rejects.toMatchObject({ code: 'ESERVFAIL' });
      configs.next([DNSConfig.fromPartial({ dnsServerIps: [`127.0.0.1:${proxy.port}`, `127.0.0.1:${good.port}`] })]);
      expect(await resolverAt(proxy.port).resolve4('my.domain')).toEqual(['4.4.4.4']);
      expect(good.queries()).toBe(1); // going round, every round would ask it again
    } finally {
      await proxy.close();
      await good.close();
    }
  });

  it('answers over TCP too, as upstream’s server (a resolver falls back to TCP for a truncated answer)', async () => {
    const good = await startDnsServer({ 'my.domain': '4.4.4.4' });
    const proxy = await serveDnsProxy({ configs: new BehaviorSubject([DNSConfig.fromPartial({ dnsServerIps: [`127.0.0.1:${good.port}`] })]) });
    try {
      const answer = await dns2.TCPClient({ dns: '127.0.0.1', port: proxy.port })('my.domain');
      expect(answer.answers.map((a) => a.address)).toEqual(['4.4.4.4']);
    } finally {
      await proxy.close();
      await good.close();
    }
  });

  it('an address it cannot listen on (UDP or TCP in use) rejects and leaves nothing behind: no socket, no subscription to the configs', async () => {
    const udpTaken = await serveDnsProxy({ configs: new BehaviorSubject<readonly DNSConfig[]>([]) });
    const tcpTaken = createServer();
    await new Promise<void>((r) => tcpTaken.listen(0, '127.0.0.1', r));
    const configs = new BehaviorSubject<readonly DNSConfig[]>([]);
    try {
      for (const port of [udpTaken.port, (tcpTaken.address() as AddressInfo).port]) {
        await expect(serveDnsProxy({ configs, port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
        expect(configs.observed).toBe(false);
      }
    } finally {
      await udpTaken.close();
      tcpTaken.close();
    }
  });
});

describe('DNS proxy as a vl3 NSE’s DNS server (local records, peers)', () => {
  it('answers its own names, asks its peers for the others (without recursion: peers asking each other never loop), NXDOMAIN when nobody knows', async () => {
    const names = (records: Record<string, string>) => (query: Buffer) => answerFromRecords(query, (name) => (records[name] ? [records[name]] : undefined));
    const peersOfA = new BehaviorSubject<readonly DNSConfig[]>([]);
    const peersOfB = new BehaviorSubject<readonly DNSConfig[]>([]);
    const a = await serveDnsProxy({ configs: peersOfA, local: names({ 'nsc1.vl3.': '169.254.0.1' }), peers: true, timeoutMs: 1000 });
    const b = await serveDnsProxy({ configs: peersOfB, local: names({ 'nsc2.vl3.': '169.254.1.1' }), peers: true, timeoutMs: 1000 });
    try {
      // Each names the other: a name neither knows goes A → B, and B, asked without recursion, does not ask A back.
      peersOfA.next([DNSConfig.fromPartial({ dnsServerIps: [`127.0.0.1:${b.port}`] })]);
      peersOfB.next([DNSConfig.fromPartial({ dnsServerIps: [`127.0.0.1:${a.port}`] })]);
      expect(await resolverAt(a.port).resolve4('nsc1.vl3')).toEqual(['169.254.0.1']);
      expect(await resolverAt(a.port).resolve4('nsc2.vl3')).toEqual(['169.254.1.1']);
      expect(await resolverAt(b.port).resolve4('nsc1.vl3')).toEqual(['169.254.0.1']);
      await expect(resolverAt(a.port).resolve4('nobody.vl3')).rejects.toMatchObject({ code: 'ENOTFOUND' });
      expect(await resolverAt(a.port).resolve6('nsc1.vl3').catch((e: NodeJS.ErrnoException) => e.code)).toBe('ENODATA');
    } finally {
      await a.close();
      await b.close();
    }
  });
});

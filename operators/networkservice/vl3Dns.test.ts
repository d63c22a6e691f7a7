import { defer, of } from 'rxjs';
import { take } from 'rxjs/operators';
import { describe, expect, it } from 'vitest';
import { Connection, MonitorScopeSelector, State } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { ConnectionMonitor } from '../../streams/monitorConnections.js';
import { Context } from '../core/context.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { parseDnsTemplate } from '../tools/dnsTemplate.js';
import { Vl3Dns } from '../tools/vl3Dns.js';
import { Vl3Ipam } from '../tools/vl3Ipam.js';
import { sync } from '../../test/sync.js';
import { beginServer, beginClient } from './begin/begin.js';
import { metadata } from './metadata.js';
import { vl3DnsClient } from './vl3DnsClient.js';
import { vl3DnsServer } from './vl3DnsServer.js';
import { vl3Server } from './vl3Server.js';

const echo: NetworkServiceHandler = { request: (r) => defer(() => of(Connection.fromPartial(r.connection ?? {}))), close: () => of(undefined) };
const scheme = parseDnsTemplate('{{ index .Labels "podName" }}.{{ .NetworkService }}.');
const request = (id: string, podName: string) => NetworkServiceRequest.fromPartial({ connection: { id, networkService: 'vl3', labels: { podName } } });

describe('vl3DnsServer', () => {
  it('a client’s name answers with its address and the answer names the NSE’s DNS with search domains; Close forgets it', () => {
    const dns = new Vl3Dns([scheme]);
    dns.setServerIp('10.0.0.0');
    const server = vl3DnsServer(dns, new ConnectionMonitor());
    const handler = chain([server, vl3Server(new Vl3Ipam('10.0.0.0/24'))], echo);
    const conn = sync(handler.request(request('c0', 'nsc0'), Context.background));
    expect(conn.context?.dnsContext?.configs).toEqual([{ dnsServerIps: ['10.0.0.0'], searchDomains: ['vl3'] }]);
    expect(dns.lookup('NSC0.vl3')).toEqual(['10.0.0.1']);
    const again = sync(handler.request(NetworkServiceRequest.fromPartial({ connection: conn }), Context.background));
    expect(again.context?.dnsContext?.configs).toHaveLength(1);
    expect(dns.lookup('nsc0.vl3.')).toEqual(['10.0.0.1']);
    sync(handler.close(again, Context.background));
    expect(dns.lookup('nsc0.vl3.')).toBeUndefined();
    expect(server.names.size).toBe(0);
  });

  it('a renamed client loses its old name; another vl3 NSE’s DNS inside the network becomes a peer until its Close', () => {
    const dns = new Vl3Dns([scheme]);
    dns.setServerIp('10.0.0.0');
    const handler = chain([vl3DnsServer(dns, new ConnectionMonitor()), vl3Server(new Vl3Ipam('10.0.0.0/24'))], echo);
    const conn = sync(handler.request(request('c0', 'a'), Context.background));
    sync(handler.request(NetworkServiceRequest.fromPartial({ connection: { ...conn, labels: { podName: 'b' } } }), Context.background));
    expect(dns.lookup('a.vl3.')).toBeUndefined();
    expect(dns.lookup('b.vl3.')).toEqual(['10.0.0.1']);
    const peerRequest = NetworkServiceRequest.fromPartial({
      connection: {
        id: 'peer',
        networkService: 'vl3',
        context: { ipContext: { srcIpAddrs: ['10.0.1.0/32'] }, dnsContext: { configs: [{ dnsServerIps: ['10.0.1.0'], searchDomains: [] }, { dnsServerIps: ['192.0.2.1'], searchDomains: [] }] } },
      },
    });
    const peer = sync(handler.request(peerRequest, Context.background));
    expect(sync(dns.peers$.pipe(take(1)))).toEqual([{ dnsServerIps: ['10.0.1.0'], searchDomains: [] }]);
    sync(handler.close(peer, Context.background));
    expect(sync(dns.peers$.pipe(take(1)))).toEqual([]);
  });

  it('without a DNS address yet the Request succeeds; when it comes the connection is published REFRESH_REQUESTED', () => {
    const dns = new Vl3Dns([scheme]);
    const connections = new ConnectionMonitor();
    const updates: State[] = [];
    connections.monitorConnections(MonitorScopeSelector.fromPartial({})).subscribe((e) => updates.push(...Object.values(e.connections).map((c) => c.state)));
    const handler = chain([beginServer(), metadata(), vl3DnsServer(dns, connections), vl3Server(new Vl3Ipam('10.0.0.0/24'))], echo);
    const conn = sync(handler.request(request('c0', 'nsc'), Context.background));
    expect(conn.context?.dnsContext?.configs ?? []).toEqual([]);
    expect(updates).toEqual([]);
    dns.setServerIp('10.0.0.0');
    expect(updates).toEqual([State.REFRESH_REQUESTED]);
    sync(handler.close(conn, Context.background));
  });
});

describe('vl3DnsClient', () => {
  it('asks with its own DNS server; the peer’s DNS servers in the answer are asked until the Close', () => {
    const dns = new Vl3Dns([scheme]);
    dns.setServerIp('10.0.1.0');
    const seen: unknown[] = [];
    const peer: NetworkServiceHandler = {
      request: (r) =>
        defer(() => {
          seen.push(r.connection?.context?.dnsContext?.configs);
          const answer = Connection.fromPartial(r.connection ?? {});
          answer.context?.dnsContext?.configs.push({ dnsServerIps: ['10.0.0.0'], searchDomains: [] });
          return of(answer);
        }),
      close: () => of(undefined),
    };
    const handler = chain([beginClient(), metadata(), vl3DnsClient(dns)], peer);
    const conn = sync(handler.request(NetworkServiceRequest.fromPartial({ connection: { id: 'p', networkService: 'vl3' } }), Context.background));
    expect(seen).toEqual([[{ dnsServerIps: ['10.0.1.0'], searchDomains: [] }]]);
    expect(sync(dns.peers$.pipe(take(1)))).toEqual([{ dnsServerIps: ['10.0.0.0'], searchDomains: [] }]);
    sync(handler.close(conn, Context.background));
    expect(sync(dns.peers$.pipe(take(1)))).toEqual([]);
  });
});

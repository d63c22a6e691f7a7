import { of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import type { DNSConfig } from '../../proto/gen/connectioncontext.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { sync } from '../../test/sync.js';
import { Context } from '../core/context.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { dnsContextClient } from './dnsContextClient.js';

const answer: NetworkServiceHandler = { request: (r) => of(Connection.fromPartial(r.connection as Connection)), close: () => of(undefined) };
const withDns = (id: string, ip: string) => NetworkServiceRequest.fromPartial({ connection: { id, context: { dnsContext: { configs: [{ dnsServerIps: [ip], searchDomains: [] }] } } } });

describe('dnsContextClient', () => {
  it('publishes the DNS configs of all live connections; a refresh replaces a connection’s; Close removes them', () => {
    const dns = dnsContextClient();
    const seen: (readonly DNSConfig[])[] = [];
    dns.configs.subscribe((c) => seen.push(c));
    const handler = chain([dns], answer);
    sync(handler.request(withDns('a', '10.0.0.1'), Context.background));
    sync(handler.request(withDns('b', '10.0.0.2'), Context.background));
    sync(handler.request(withDns('a', '10.0.0.3'), Context.background));
    sync(handler.close(Connection.fromPartial({ id: 'b' }), Context.background));
    expect(seen.map((list) => list.map((c) => c.dnsServerIps[0]))).toEqual([[], ['10.0.0.1'], ['10.0.0.1', '10.0.0.2'], ['10.0.0.3', '10.0.0.2'], ['10.0.0.3']]);
  });

  it('adds the fallback config (the resolver’s servers before) to every connection’s, as upstream: none before the first connection, none after the last', () => {
    const dns = dnsContextClient({ fallback: { dnsServerIps: ['10.96.0.10'], searchDomains: ['cluster.local'] } });
    const seen: (readonly DNSConfig[])[] = [];
    dns.configs.subscribe((c) => seen.push(c));
    const handler = chain([dns], answer);
    sync(handler.request(withDns('a', '10.0.0.1'), Context.background));
    sync(handler.close(Connection.fromPartial({ id: 'a' }), Context.background));
    expect(seen.map((list) => list.map((c) => c.dnsServerIps[0]))).toEqual([[], ['10.0.0.1', '10.96.0.10'], []]);
  });
});

import { of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import type { DNSConfig } from '../../proto/gen/connectioncontext.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { containsDnsConfig, dnsContextServer, parseDnsConfigs } from './dnsContext.js';
import { sync } from '../../test/sync.js';

const cfg = (ips: string[], domains: string[]): DNSConfig => ({ dnsServerIps: ips, searchDomains: domains });
const echo: NetworkServiceHandler = { request: (r) => of(Connection.fromPartial(r.connection!)), close: () => of(undefined) };

describe('dnsContextServer', () => {
  it('appends the configured DNS configs (upstream Test_DNSContextServer_Request)', () => {
    const handler = chain([dnsContextServer([cfg(['8.8.8.8'], ['sample1']), cfg(['8.8.4.4'], ['sample2'])])], echo);
    const conn = sync(handler.request(NetworkServiceRequest.fromPartial({ connection: { id: 'a', context: {} } }), Context.background));
    expect(conn.context!.dnsContext!.configs).toEqual([cfg(['8.8.8.8'], ['sample1']), cfg(['8.8.4.4'], ['sample2'])]);
  });

  it('adds no duplicates: equal server IPs and search domains in any order count as the same config', () => {
    const handler = chain([dnsContextServer([cfg(['10.0.0.1', '10.0.0.2'], ['a', 'b']), cfg(['10.0.0.1'], ['c'])])], echo);
    const request = NetworkServiceRequest.fromPartial({
      connection: { id: 'a', context: { dnsContext: { configs: [cfg(['10.0.0.2', '10.0.0.1'], ['b', 'a']), cfg(['10.0.0.1'], ['x'])] } } },
    });
    const conn = sync(handler.request(request, Context.background));
    expect(conn.context!.dnsContext!.configs).toEqual([cfg(['10.0.0.2', '10.0.0.1'], ['b', 'a']), cfg(['10.0.0.1'], ['x']), cfg(['10.0.0.1'], ['c'])]);
    // a refresh (the returned connection again) adds nothing
    const again = sync(handler.request(NetworkServiceRequest.fromPartial({ connection: conn }), Context.background));
    expect(again.context!.dnsContext!.configs).toHaveLength(3);
  });

  it('creates the connection and DNS contexts when missing; Close passes through', () => {
    let closed = 0;
    const handler = chain([dnsContextServer([cfg(['10.0.0.1'], [])])], { ...echo, close: () => of(void closed++) });
    const conn = sync(handler.request(NetworkServiceRequest.fromPartial({ connection: { id: 'a' } }), Context.background));
    expect(conn.context!.dnsContext!.configs).toEqual([cfg(['10.0.0.1'], [])]);
    sync(handler.close(conn, Context.background));
    expect(closed).toBe(1);
  });

  it('each connection gets its own copies of the configs', () => {
    const config = cfg(['10.0.0.1'], ['a']);
    const handler = chain([dnsContextServer([config])], { request: (r) => of(r.connection!), close: () => of(undefined) });
    const c1 = sync(handler.request(NetworkServiceRequest.fromPartial({ connection: { id: '1' } }), Context.background));
    c1.context!.dnsContext!.configs[0]!.dnsServerIps.push('6.6.6.6');
    const c2 = sync(handler.request(NetworkServiceRequest.fromPartial({ connection: { id: '2' } }), Context.background));
    expect(c2.context!.dnsContext!.configs[0]!.dnsServerIps).toEqual(['10.0.0.1']);
    expect(config.dnsServerIps).toEqual(['10.0.0.1']);
  });

  it('no request connection → INVALID_ARGUMENT', () => {
    const handler = chain([dnsContextServer([])], echo);
    expect(() => sync(handler.request(NetworkServiceRequest.fromPartial({}), Context.background))).toThrow('request has no connection');
  });
});

describe('containsDnsConfig', () => {
  it('compares as multisets', () => {
    expect(containsDnsConfig([cfg(['a', 'a'], [])], cfg(['a'], []))).toBe(false);
    expect(containsDnsConfig([cfg(['a', 'b'], [])], cfg(['a', 'a'], []))).toBe(false);
    expect(containsDnsConfig([cfg(['b', 'a'], ['x'])], cfg(['a', 'b'], ['x']))).toBe(true);
    expect(containsDnsConfig([], cfg([], []))).toBe(false);
  });
});

describe('parseDnsConfigs (NSM_DNS_CONFIGS)', () => {
  it('reads the reference example and the default', () => {
    expect(parseDnsConfigs('[{"dns_server_ips":["172.16.1.100"],"search_domains":["my.coredns.service"]}]')).toEqual([cfg(['172.16.1.100'], ['my.coredns.service'])]);
    expect(parseDnsConfigs('[]')).toEqual([]);
    expect(parseDnsConfigs(' [{"dns_server_ips": ["ip1", "ip2"], "search_domains": ["d1"]}] ')).toEqual([cfg(['ip1', 'ip2'], ['d1'])]);
  });

  it('like Go encoding/json: keys in any case, unknown keys ignored, null is empty; camelCase accepted too', () => {
    expect(parseDnsConfigs('[{"DNS_Server_IPs":["10.0.0.1"],"colour":"blue","search_domains":null}]')).toEqual([cfg(['10.0.0.1'], [])]);
    expect(parseDnsConfigs('[{}]')).toEqual([cfg([], [])]);
    expect(parseDnsConfigs('null')).toEqual([]);
    expect(parseDnsConfigs('[{"dnsServerIps":["fd00::53"],"searchDomains":["a.b"]}]')).toEqual([cfg(['fd00::53'], ['a.b'])]);
  });

  it('errors say what and where', () => {
    expect(() => parseDnsConfigs('')).toThrow('empty value: expected a JSON array of DNS configs');
    expect(() => parseDnsConfigs('[{"dns_server_ips":["10.0.0.1"]')).toThrow(/^not valid JSON: /);
    expect(() => parseDnsConfigs('{"dns_server_ips":["10.0.0.1"]}')).toThrow('expected a JSON array of DNS configs, found an object');
    expect(() => parseDnsConfigs('[{}, null]')).toThrow('[1]: expected an object with dns_server_ips and search_domains, found null');
    expect(() => parseDnsConfigs('[["10.0.0.1"]]')).toThrow('[0]: expected an object with dns_server_ips and search_domains, found an array');
    expect(() => parseDnsConfigs('[{"dns_server_ips":"10.0.0.1"}]')).toThrow('[0].dns_server_ips: expected an array of strings, found string "10.0.0.1"');
    expect(() => parseDnsConfigs('[{}, {"search_domains":["a", 5]}]')).toThrow('[1].search_domains[1]: expected a string, found number 5');
  });
});

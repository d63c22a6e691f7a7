import { status } from '../core/status.js';
import { defer, of, throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { unavailable } from '../core/errors.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { silentLogger } from '../tools/log.js';
import { Vl3Ipam } from '../tools/vl3Ipam.js';
import { errorOf, sync } from '../../test/sync.js';
import { marbles } from '../../test/marbles.js';
import { beginClient } from './begin/begin.js';
import { metadata } from './metadata.js';
import { vl3Client } from './vl3Client.js';
import { vl3Server } from './vl3Server.js';

const echo: NetworkServiceHandler = { request: (r) => defer(() => of(Connection.fromPartial(r.connection ?? {}))), close: () => of(undefined) };
const request = (id: string) => NetworkServiceRequest.fromPartial({ connection: { id, networkService: 'vl3' } });

describe('vl3Server', () => {
  it('a client gets a host address, routes via the NSE and the global route; a refresh keeps it; a new prefix gives a new one; Close frees it', () => {
    const ipam = new Vl3Ipam('10.0.0.0/24');
    const server = vl3Server(ipam);
    const handler = chain([server], echo);
    const conn = sync(handler.request(request('c1'), Context.background));
    expect(conn.context?.ipContext).toMatchObject({
      srcIpAddrs: ['10.0.0.1/32'],
      dstIpAddrs: ['10.0.0.0/32'],
      srcRoutes: [
        { prefix: '10.0.0.0/32', nextHop: '10.0.0.0' },
        { prefix: '10.0.0.0/24', nextHop: '10.0.0.0' },
        { prefix: '10.0.0.0/16', nextHop: '10.0.0.0' },
      ],
      dstRoutes: [{ prefix: '10.0.0.1/32', nextHop: '' }],
    });
    const refreshed = sync(handler.request(NetworkServiceRequest.fromPartial({ connection: conn }), Context.background));
    expect(refreshed.context?.ipContext?.srcIpAddrs).toEqual(['10.0.0.1/32']);
    ipam.reset('10.1.0.0/24');
    const moved = sync(handler.request(NetworkServiceRequest.fromPartial({ connection: refreshed }), Context.background));
    expect(moved.context?.ipContext?.srcIpAddrs).toEqual(['10.1.0.1/32']);
    expect(moved.context?.ipContext?.dstIpAddrs).toEqual(['10.1.0.0/32']);
    expect(moved.context?.ipContext?.srcRoutes.map((r) => r.prefix)).toEqual(['10.1.0.0/32', '10.1.0.0/24', '10.1.0.0/16']);
    sync(handler.close(moved, Context.background));
    expect(server.connections.size).toBe(0);
    expect(ipam.allocate()).toBe('10.1.0.1/32');
  });

  it('another vl3 NSE keeps its own address; before a prefix: UNAVAILABLE; used up: RESOURCE_EXHAUSTED; a failed first Request gives the address back', () => {
    const ipam = new Vl3Ipam('10.0.0.0/31');
    const handler = chain([vl3Server(ipam)], echo);
    const fromPeer = NetworkServiceRequest.fromPartial({
      connection: { id: 'peer', networkService: 'vl3', context: { ipContext: { srcIpAddrs: ['10.0.7.0/32'] }, dnsContext: { configs: [{ dnsServerIps: ['10.0.7.0'], searchDomains: [] }] } } },
    });
    const peer = sync(handler.request(fromPeer, Context.background));
    expect(peer.context?.ipContext?.srcIpAddrs).toEqual(['10.0.7.0/32']);
    const failing = chain([vl3Server(ipam)], { request: () => throwError(() => unavailable('down')), close: () => of(undefined) });
    expect(errorOf(() => sync(failing.request(request('x'), Context.background))).code).toBe(status.UNAVAILABLE);
    sync(handler.request(request('c1'), Context.background));
    expect(errorOf(() => sync(handler.request(request('c2'), Context.background)))).toMatchObject({ code: status.RESOURCE_EXHAUSTED, message: expect.stringContaining('10.0.0.0/31 has no free address') });
    expect(errorOf(() => sync(chain([vl3Server(new Vl3Ipam())], echo).request(request('c'), Context.background)))).toMatchObject({ code: status.UNAVAILABLE, message: expect.stringContaining('initializing') });
  });
});

describe('vl3Server and its peers', () => {
  it('a peer whose prefix overlaps the NSE’s is refused (INVALID_ARGUMENT naming both) and logged', () => {
    const warnings: unknown[] = [];
    const logger = { ...silentLogger, warn: (msg: string, fields?: Record<string, unknown>) => warnings.push({ msg, ...fields }) };
    const handler = chain([vl3Server(new Vl3Ipam('10.0.0.0/24'), { logger })], echo);
    const peer = (prefix: string) =>
      NetworkServiceRequest.fromPartial({
        connection: {
          id: 'peer',
          networkService: 'vl3',
          networkServiceEndpointName: 'vl3-b',
          context: { ipContext: { srcIpAddrs: ['10.0.7.0/32'], dstRoutes: [{ prefix, nextHop: '10.0.7.0' }] }, dnsContext: { configs: [{ dnsServerIps: ['10.0.7.0'], searchDomains: [] }] } },
        },
      });
    expect(errorOf(() => sync(handler.request(peer('10.0.0.0/16'), Context.background)))).toMatchObject({ code: status.INVALID_ARGUMENT, message: "the vl3 peer's prefix 10.0.0.0/16 overlaps this NSE's 10.0.0.0/24" });
    expect(warnings).toEqual([{ msg: 'vl3 peer refused', peer: 'vl3-b', prefix: '10.0.0.0/16', own: '10.0.0.0/24' }]);
    expect(sync(handler.request(peer('10.0.7.0/24'), Context.background)).context?.ipContext?.srcIpAddrs).toEqual(['10.0.7.0/32']);
  });
});

describe('vl3Client', () => {
  it('asks with the NSE’s own address and routes; a new prefix makes begin Request again with it', () => {
    marbles(({ cold, flush }, scheduler) => {
      const ipam = new Vl3Ipam('10.0.0.0/24');
      const sent: string[][] = [];
      const next: NetworkServiceHandler = {
        request: (r) => defer(() => (sent.push([...(r.connection?.context?.ipContext?.srcIpAddrs ?? [])]), of(Connection.fromPartial(r.connection ?? {})))),
        close: () => of(undefined),
      };
      const handler = chain([beginClient({ scheduler }), metadata(), vl3Client(ipam)], next);
      handler.request(request('c1'), Context.background).subscribe();
      cold('--x').subscribe(() => ipam.reset('10.0.1.0/24'));
      flush();
      expect(sent).toEqual([['10.0.0.0/32'], ['10.0.1.0/32']]);
    });
  });
});

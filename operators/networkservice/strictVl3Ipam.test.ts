import { defer, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { IPContext } from '../../proto/gen/connectioncontext.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { Vl3Ipam } from '../tools/vl3Ipam.js';
import { sync } from '../../test/sync.js';
import { isVl3Peer, strictVl3Ipam } from './strictVl3Ipam.js';
import { vl3Server } from './vl3Server.js';

/** Answers with what it was asked and keeps the IP contexts it saw. */
function recorder() {
  const seen: IPContext[] = [];
  const handler: NetworkServiceHandler = {
    request: (r) =>
      defer(() => {
        seen.push(IPContext.fromPartial(r.connection?.context?.ipContext ?? {}));
        return of(Connection.fromPartial(r.connection ?? {}));
      }),
    close: () => of(undefined),
  };
  return { handler, seen };
}

const request = (ipContext: Partial<IPContext>, dnsServerIps: string[] = []) =>
  NetworkServiceRequest.fromPartial({
    connection: {
      id: 'c1',
      networkService: 'vl3',
      context: { ipContext, dnsContext: { configs: dnsServerIps.length > 0 ? [{ dnsServerIps, searchDomains: [] }] : [] } },
    },
  });

/** What another NSE (10.1.0.0/24) gave a client. */
const foreignClient: Partial<IPContext> = {
  srcIpAddrs: ['10.1.0.5/32'],
  dstIpAddrs: ['10.1.0.0/32'],
  srcRoutes: [{ prefix: '10.1.0.0/24', nextHop: '10.1.0.0' }],
  dstRoutes: [{ prefix: '10.1.0.5/32', nextHop: '' }],
};

describe('strictVl3Ipam', () => {
  it('a client addressed from another prefix is reset, and vl3Server addresses it from ours', () => {
    const ipam = new Vl3Ipam('10.0.0.0/24');
    const next = recorder();
    sync(chain([strictVl3Ipam(ipam)], next.handler).request(request(foreignClient, ['10.1.0.0']), Context.background));
    expect(next.seen).toEqual([IPContext.fromPartial({})]);

    const conn = sync(chain([strictVl3Ipam(ipam), vl3Server(ipam)], next.handler).request(request(foreignClient), Context.background));
    expect(conn.context?.ipContext?.srcIpAddrs).toEqual(['10.0.0.1/32']);
    expect(conn.context?.ipContext?.dstIpAddrs).toEqual(['10.0.0.0/32']);
  });

  it('a peer vl3 NSE keeps its own addresses and destination routes, nothing else', () => {
    const ipam = new Vl3Ipam('10.0.0.0/24');
    const next = recorder();
    const fromPeer = request(
      {
        srcIpAddrs: ['10.1.0.0/32'],
        dstIpAddrs: ['10.2.0.0/32'],
        srcRoutes: [{ prefix: '10.2.0.0/24', nextHop: '10.2.0.0' }],
        dstRoutes: [
          { prefix: '10.1.0.0/32', nextHop: '10.1.0.0' },
          { prefix: '10.1.0.0/24', nextHop: '10.1.0.0' },
        ],
      },
      ['10.1.0.0'],
    );
    sync(chain([strictVl3Ipam(ipam)], next.handler).request(fromPeer, Context.background));
    expect(next.seen).toEqual([
      IPContext.fromPartial({
        srcIpAddrs: ['10.1.0.0/32'],
        dstRoutes: [
          { prefix: '10.1.0.0/32', nextHop: '10.1.0.0' },
          { prefix: '10.1.0.0/24', nextHop: '10.1.0.0' },
        ],
      }),
    ]);
  });

  it('leaves alone a request addressed from our prefix, a first Request, and everything before the NSE has a prefix', () => {
    const ipam = new Vl3Ipam('10.0.0.0/24');
    const next = recorder();
    const ours: Partial<IPContext> = {
      srcIpAddrs: ['10.0.0.3/32'],
      dstIpAddrs: ['10.7.0.0/32', '10.0.0.0/32'],
      srcRoutes: [{ prefix: '10.0.0.0/24', nextHop: '10.0.0.0' }],
      dstRoutes: [{ prefix: '10.0.0.3/32', nextHop: '' }],
    };
    const handler = chain([strictVl3Ipam(ipam)], next.handler);
    sync(handler.request(request(ours), Context.background));
    sync(handler.request(request({ srcIpAddrs: ['10.1.0.5/32'] }), Context.background));
    sync(chain([strictVl3Ipam(new Vl3Ipam())], next.handler).request(request(foreignClient), Context.background));
    expect(next.seen).toEqual([IPContext.fromPartial(ours), IPContext.fromPartial({ srcIpAddrs: ['10.1.0.5/32'] }), IPContext.fromPartial(foreignClient)]);
  });

  it('IPv6: addresses are compared as addresses', () => {
    const ipam = new Vl3Ipam('fd00:0:0:1::/64');
    const next = recorder();
    const handler = chain([strictVl3Ipam(ipam)], next.handler);
    sync(handler.request(request({ srcIpAddrs: ['fd00:0:0:1::5/128'], dstIpAddrs: ['fd00:0:0:1:0:0:0:0/128'] }), Context.background));
    sync(handler.request(request({ srcIpAddrs: ['fd00:0:0:2::5/128'], dstIpAddrs: ['fd00:0:0:2::/128'] }), Context.background));
    expect(next.seen.map((ip) => ip.srcIpAddrs)).toEqual([['fd00:0:0:1::5/128'], []]);
  });
});

describe('isVl3Peer', () => {
  it('a DNS server that is the request’s own source address makes it a peer; the NSE’s DNS named by a client does not', () => {
    expect(isVl3Peer(request({ srcIpAddrs: ['10.1.0.0/32'] }, ['10.1.0.0']))).toBe(true);
    expect(isVl3Peer(request({ srcIpAddrs: ['fd00::1/128'] }, ['fd00:0::1']))).toBe(true);
    expect(isVl3Peer(request({ srcIpAddrs: ['10.0.0.3/32'] }, ['10.0.0.0']))).toBe(false);
    expect(isVl3Peer(request({ srcIpAddrs: ['10.0.0.3/32'] }))).toBe(false);
    expect(isVl3Peer(request({}, ['10.0.0.3']))).toBe(false);
  });
});

import { status } from '@grpc/grpc-js';
import { defer, of, throwError, timer } from 'rxjs';
import { map } from 'rxjs/operators';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import type { IPContext } from '../../proto/gen/connectioncontext.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { NsmError, unavailable } from '../core/errors.js';
import { chain, type NetworkServiceElement, type NetworkServiceHandler } from '../core/networkservice.js';
import { parseIp } from '../tools/cidr.js';
import { metadata } from './metadata.js';
import {
  groupIpam,
  ipamForPolicy,
  parseBracketGroups,
  parseCidrGroups,
  parseIpamPolicy,
  point2pointIpam,
  strictIpam,
} from './point2pointIpam.js';
import { errorOf, sync } from '../../test/sync.js';

/** Runs a synchronous Observable: its value, or its error thrown. */
/**
 * chain([metadata, ...ipam], next): next echoes the request's connection, and fails the
 * Requests whose 0-based index is in `failAt`.
 */
function setup(ipam: NetworkServiceElement | NetworkServiceElement[], options: { failAt?: number[] } = {}) {
  const meta = metadata();
  let n = 0;
  const seen: NetworkServiceRequest[] = [];
  const next: NetworkServiceHandler = {
    request: (r) =>
      defer(() => {
        seen.push(NetworkServiceRequest.fromPartial(r));
        return options.failAt?.includes(n++) ? throwError(() => unavailable('next failed')) : of(Connection.fromPartial(r.connection!));
      }),
    close: () => of(undefined),
  };
  const handler = chain([meta, ...(Array.isArray(ipam) ? ipam : [ipam])], next);
  const request = (id: string, ip: Partial<IPContext> = {}) =>
    sync(handler.request(NetworkServiceRequest.fromPartial({ connection: { id, networkService: 'ns', context: { ipContext: ip } } }), Context.background));
  const refresh = (conn: Connection, ip?: Partial<IPContext>) => {
    const c = Connection.fromPartial(conn);
    if (ip) c.context!.ipContext = { ...c.context!.ipContext!, ...ip };
    return sync(handler.request(NetworkServiceRequest.fromPartial({ connection: c }), Context.background));
  };
  const close = (conn: Connection | string) =>
    sync(handler.close(typeof conn === 'string' ? Connection.fromPartial({ id: conn }) : conn, Context.background));
  return { handler, meta, seen, request, refresh, close };
}

/** The addresses and routes of a connection, in one comparable shape. */
const ipOf = (c: Connection) => {
  const ip = c.context!.ipContext!;
  return { dst: ip.dstIpAddrs, src: ip.srcIpAddrs, srcRoutes: ip.srcRoutes.map((r) => r.prefix), dstRoutes: ip.dstRoutes.map((r) => r.prefix) };
};
/** upstream validateConn: one pair, the routes pointing at the other side. */
const pair = (dst: string, src: string) => ({ dst: [dst], src: [src], srcRoutes: [dst], dstRoutes: [src] });

describe('point2pointIpam', () => {
  it('/31 rule: NSM_CIDR_PREFIX=172.16.1.100/31 gives the NSE .100 and the client .101', () => {
    const t = setup(point2pointIpam(['172.16.1.100/31']));
    const conn = t.request('a');
    expect(ipOf(conn)).toEqual(pair('172.16.1.100/32', '172.16.1.101/32'));
    // routes carry no next hop: the other side's address is implied
    expect(conn.context!.ipContext!.srcRoutes[0]!.nextHop).toBe('');
  });

  it('hands out consecutive pairs from the network address up; Close frees a pair and the same addresses come back', () => {
    const t = setup(point2pointIpam(['192.168.3.4/16']));
    const c1 = t.request('1');
    expect(ipOf(c1)).toEqual(pair('192.168.0.0/32', '192.168.0.1/32'));
    expect(ipOf(t.request('2'))).toEqual(pair('192.168.0.2/32', '192.168.0.3/32'));
    t.close(c1);
    expect(t.meta.connections.has('1')).toBe(false);
    expect(ipOf(t.request('3'))).toEqual(pair('192.168.0.0/32', '192.168.0.1/32'));
    expect(ipOf(t.request('4'))).toEqual(pair('192.168.0.4/32', '192.168.0.5/32'));
  });

  it('IPv6: /128 addresses in canonical form', () => {
    const t = setup(point2pointIpam(['fe80::/64']));
    const c1 = t.request('1');
    expect(ipOf(c1)).toEqual(pair('fe80::/128', 'fe80::1/128'));
    expect(ipOf(t.request('2'))).toEqual(pair('fe80::2/128', 'fe80::3/128'));
    t.close(c1);
    expect(ipOf(t.request('3'))).toEqual(pair('fe80::/128', 'fe80::1/128'));
  });

  it('honours the request’s excluded prefixes (before, between and after allocated addresses)', () => {
    const t = setup(point2pointIpam(['192.168.1.0/24']));
    const excludedPrefixes = ['192.168.1.1/32', '192.168.1.3/32', '192.168.1.6/32'];
    expect(ipOf(t.request('1', { excludedPrefixes }))).toEqual(pair('192.168.1.0/32', '192.168.1.2/32'));
    expect(ipOf(t.request('2', { excludedPrefixes }))).toEqual(pair('192.168.1.4/32', '192.168.1.5/32'));
    expect(ipOf(t.request('3', { excludedPrefixes }))).toEqual(pair('192.168.1.7/32', '192.168.1.8/32'));
    // an excluded CIDR with host bits excludes its whole network; junk is ignored
    expect(ipOf(t.request('4', { excludedPrefixes: [...excludedPrefixes, '192.168.1.9/29', 'not-a-cidr'] }))).toEqual(pair('192.168.1.16/32', '192.168.1.17/32'));
  });

  it('exhaustion → RESOURCE_EXHAUSTED naming the prefixes; nothing is kept for the failed connection', () => {
    const t = setup(point2pointIpam(['192.168.1.2/31']));
    t.request('1');
    const err = errorOf(() => t.request('2'));
    expect(err).toBeInstanceOf(NsmError);
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.message).toBe('point2pointIpam: no free pair of addresses left in 192.168.1.2/31');
    expect(t.meta.connections.has('2')).toBe(false);
    expect(t.seen).toHaveLength(1);
  });

  it('all addresses excluded → RESOURCE_EXHAUSTED that says the request excluded some', () => {
    const t = setup(point2pointIpam(['fe80::1:2/127']));
    const err = errorOf(() => t.request('1', { excludedPrefixes: ['fe80::1:2/127'] }));
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.message).toBe('point2pointIpam: no free pair of addresses left in fe80::1:2/127 (the request excludes 1 prefix)');
  });

  it('a refresh keeps the pair and adds nothing twice', () => {
    const t = setup(point2pointIpam(['192.168.0.0/16']));
    const c = t.request('a', { excludedPrefixes: ['192.168.0.1/32'] });
    expect(ipOf(c)).toEqual(pair('192.168.0.0/32', '192.168.0.2/32'));
    // the returned connection again (its context already has the pair)
    expect(ipOf(t.refresh(c))).toEqual(pair('192.168.0.0/32', '192.168.0.2/32'));
    // an empty context for the same id
    expect(ipOf(t.request('a'))).toEqual(pair('192.168.0.0/32', '192.168.0.2/32'));
    expect(t.meta.connections.size).toBe(1);
  });

  it('a refresh whose addresses are now excluded gets a new pair; the old one is removed from the context and freed', () => {
    const ipam = point2pointIpam(['192.168.0.0/16']);
    const t = setup(ipam);
    const c = t.request('a', { excludedPrefixes: ['192.168.0.1/32'] });
    const moved = t.refresh(c, { excludedPrefixes: ['192.168.0.1/30'] });
    expect(ipOf(moved)).toEqual(pair('192.168.0.4/32', '192.168.0.5/32'));
    // .0 and .2 are free again (.1, .3 were never taken)
    expect(ipam.pools[0]!.has(parseIp('192.168.0.0'))).toBe(true);
    expect(ipam.pools[0]!.has(parseIp('192.168.0.2'))).toBe(true);
    expect(ipOf(t.request('b'))).toEqual(pair('192.168.0.0/32', '192.168.0.1/32'));
  });

  it('only the src address excluded is enough to move the pair', () => {
    const t = setup(point2pointIpam(['10.0.0.0/24']));
    const c = t.request('a');
    expect(ipOf(t.refresh(c, { excludedPrefixes: ['10.0.0.1/32'] }))).toEqual(pair('10.0.0.0/32', '10.0.0.2/32'));
  });

  it('recovers the requested addresses for an unknown connection when they are free and in the pool', () => {
    const ipam = point2pointIpam(['192.168.0.0/24']);
    const t = setup(ipam);
    // e.g. the NSE restarted and the client refreshes with what it had
    const c = t.request('a', { srcIpAddrs: ['192.168.0.7/32'], dstIpAddrs: ['192.168.0.6/32'] });
    expect(ipOf(c)).toEqual(pair('192.168.0.6/32', '192.168.0.7/32'));
    expect(ipam.pools[0]!.has(parseIp('192.168.0.6'))).toBe(false);
    expect(ipOf(t.request('b'))).toEqual(pair('192.168.0.0/32', '192.168.0.1/32'));
    // a third connection asking for b's addresses cannot have them: new ones are appended
    const d = t.request('c', { srcIpAddrs: ['192.168.0.1/32'], dstIpAddrs: ['192.168.0.0/32'] });
    expect(ipOf(d).src).toEqual(['192.168.0.1/32', '192.168.0.3/32']);
    expect(ipOf(d).dst).toEqual(['192.168.0.0/32', '192.168.0.2/32']);
  });

  it('does not recover excluded, out-of-pool or one-sided addresses; a half that was found is not leaked', () => {
    const ipam = point2pointIpam(['192.168.0.0/24']);
    const t = setup(ipam);
    const excluded = t.request('a', { srcIpAddrs: ['192.168.0.9/32'], dstIpAddrs: ['192.168.0.8/32'], excludedPrefixes: ['192.168.0.8/32'] });
    expect(ipOf(excluded).dst).toEqual(['192.168.0.8/32', '192.168.0.0/32']);
    expect(ipOf(excluded).src).toEqual(['192.168.0.9/32', '192.168.0.1/32']);
    // .9 was found but .8 was not: .9 went back
    expect(ipam.pools[0]!.has(parseIp('192.168.0.9'))).toBe(true);
    const outside = t.request('b', { srcIpAddrs: ['10.0.0.1/32'], dstIpAddrs: ['10.0.0.0/32'] });
    expect(ipOf(outside).src).toEqual(['10.0.0.1/32', '192.168.0.3/32']);
    const oneSided = t.request('c', { srcIpAddrs: ['192.168.0.50/32'] });
    expect(ipOf(oneSided).src).toEqual(['192.168.0.50/32', '192.168.0.5/32']);
    expect(ipam.pools[0]!.has(parseIp('192.168.0.50'))).toBe(true);
  });

  it('a failed first Request frees its pair', () => {
    const t = setup(point2pointIpam(['192.168.0.0/16']), { failAt: [0] });
    expect(errorOf(() => t.request('a')).message).toBe('next failed');
    expect(t.meta.connections.size).toBe(0);
    expect(ipOf(t.request('b'))).toEqual(pair('192.168.0.0/32', '192.168.0.1/32'));
  });

  it('a failed refresh keeps the pair (upstream frees only what that Request allocated)', () => {
    const t = setup(point2pointIpam(['192.168.0.0/16']), { failAt: [1] });
    const c = t.request('a');
    expect(() => t.refresh(c)).toThrow('next failed');
    expect(ipOf(t.request('b'))).toEqual(pair('192.168.0.2/32', '192.168.0.3/32'));
    expect(ipOf(t.refresh(c))).toEqual(pair('192.168.0.0/32', '192.168.0.1/32'));
  });

  it('a failed reallocating refresh frees the new pair and forgets the connection', () => {
    const ipam = point2pointIpam(['10.0.0.0/24']);
    const t = setup(ipam, { failAt: [1] });
    const c = t.request('a');
    expect(() => t.refresh(c, { excludedPrefixes: ['10.0.0.0/31'] })).toThrow('next failed');
    expect(ipam.pools[0]!.size).toBe(256n);
    // the next refresh starts afresh: it recovers what it still carries, if free
    expect(ipOf(t.refresh(c))).toEqual(pair('10.0.0.0/32', '10.0.0.1/32'));
  });

  it('a cancelled first Request frees its pair (marble: next answers at 10 ms, the caller leaves at 5 ms)', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, flush }) => {
      const meta = metadata();
      const ipam = point2pointIpam(['10.0.0.0/30']);
      const slow: NetworkServiceHandler = { request: (r) => timer(10).pipe(map(() => r.connection!)), close: () => of(undefined) };
      const handler = chain([meta, ipam], slow);
      const sub = handler.request(NetworkServiceRequest.fromPartial({ connection: { id: 'a', networkService: 'ns' } }), Context.background).subscribe();
      cold('5ms x').subscribe(() => {
        expect(ipam.pools[0]!.size).toBe(2n);
        sub.unsubscribe();
      });
      flush();
      expect(ipam.pools[0]!.size).toBe(4n);
      expect(meta.connections.size).toBe(0);
    });
  });

  it('several prefixes: the next one is used when the first is full', () => {
    const t = setup(point2pointIpam(['10.0.0.0/31', '10.0.1.0/31']));
    expect(ipOf(t.request('1'))).toEqual(pair('10.0.0.0/32', '10.0.0.1/32'));
    expect(ipOf(t.request('2'))).toEqual(pair('10.0.1.0/32', '10.0.1.1/32'));
    expect(errorOf(() => t.request('3')).message).toBe('point2pointIpam: no free pair of addresses left in 10.0.0.0/31, 10.0.1.0/31');
  });

  it('refuses bad configuration at construction', () => {
    expect(() => point2pointIpam([])).toThrow('one or more prefixes are required');
    expect(() => point2pointIpam(['10.0.0.0/33'])).toThrow('"10.0.0.0/33" is not a CIDR');
  });

  it('needs metadata earlier in the chain', () => {
    const handler = chain([point2pointIpam(['10.0.0.0/24'])], { request: (r) => of(r.connection!), close: () => of(undefined) });
    expect(() => sync(handler.request(NetworkServiceRequest.fromPartial({ connection: { id: 'a' } }), Context.background))).toThrow('metadata element missing');
  });

  it('creates the connection and IP contexts when the request has none', () => {
    const t = setup(point2pointIpam(['10.0.0.0/24']));
    const conn = sync(t.handler.request(NetworkServiceRequest.fromPartial({ connection: { id: 'x', networkService: 'ns' } }), Context.background));
    expect(ipOf(conn)).toEqual(pair('10.0.0.0/32', '10.0.0.1/32'));
  });
});

describe('groupIpam', () => {
  it('dual stack: NSM_CIDR_PREFIX=172.16.1.100/31,2001:db8::/116 gives one pair per family', () => {
    const groups = parseCidrGroups('172.16.1.100/31,2001:db8::/116');
    const t = setup(groupIpam(groups));
    const c1 = t.request('1');
    expect(ipOf(c1)).toEqual({
      dst: ['172.16.1.100/32', '2001:db8::/128'],
      src: ['172.16.1.101/32', '2001:db8::1/128'],
      srcRoutes: ['172.16.1.100/32', '2001:db8::/128'],
      dstRoutes: ['172.16.1.101/32', '2001:db8::1/128'],
    });
    // the v4 /31 is full now: a second connection fails as a whole
    expect(errorOf(() => t.request('2')).code).toBe(status.RESOURCE_EXHAUSTED);
    t.close(c1);
    expect(ipOf(t.request('3')).src).toEqual(['172.16.1.101/32', '2001:db8::1/128']);
  });

  it('a pair an earlier group allocated is given back when a later group fails', () => {
    const v6 = point2pointIpam(['2001:db8::/116']);
    const v4 = point2pointIpam(['172.16.1.100/31']);
    const byPrefix = new Map([
      ['2001:db8::/116', v6],
      ['172.16.1.100/31', v4],
    ]);
    const t = setup(groupIpam([['2001:db8::/116'], ['172.16.1.100/31']], (p) => byPrefix.get(p[0]!)!));
    t.request('1');
    expect(v6.pools[0]!.size).toBe(4096n - 2n);
    expect(errorOf(() => t.request('2')).code).toBe(status.RESOURCE_EXHAUSTED);
    expect(v6.pools[0]!.size).toBe(4096n - 2n);
    expect(t.meta.connections.has('2')).toBe(false);
  });

  it('refresh of a dual-stack connection keeps both pairs; excluding one family moves only that pair', () => {
    const t = setup(groupIpam([['192.168.0.0/16'], ['fe80::/64']]));
    const c = t.request('a', { excludedPrefixes: ['192.168.0.1/32', 'fe80::1/128'] });
    expect(ipOf(c).dst).toEqual(['192.168.0.0/32', 'fe80::/128']);
    expect(ipOf(c).src).toEqual(['192.168.0.2/32', 'fe80::2/128']);
    expect(ipOf(t.refresh(c))).toEqual(ipOf(c));
    const moved = t.refresh(c, { excludedPrefixes: ['192.168.0.1/30'] });
    expect(ipOf(moved).dst).toEqual(['fe80::/128', '192.168.0.4/32']);
    expect(ipOf(moved).src).toEqual(['fe80::2/128', '192.168.0.5/32']);
  });

  it('no groups: passes through', () => {
    const t = setup(groupIpam([]));
    expect(ipOf(t.request('a'))).toEqual({ dst: [], src: [], srcRoutes: [], dstRoutes: [] });
  });
});

describe('parseCidrGroups', () => {
  it('brackets make one group, other items a group each; networks are masked; spaces ignored', () => {
    expect(parseCidrGroups('[172.168.1.0/24], [172.168.1.0/24, 172.168.2.0/24], 172.168.1.0/24, [172.168.1.0/24, 172.168.2.0/24 , 172.168.3.0/24]')).toEqual([
      ['172.168.1.0/24'],
      ['172.168.1.0/24', '172.168.2.0/24'],
      ['172.168.1.0/24'],
      ['172.168.1.0/24', '172.168.2.0/24', '172.168.3.0/24'],
    ]);
    expect(parseCidrGroups('169.254.0.0/16')).toEqual([['169.254.0.0/16']]);
    expect(parseCidrGroups('192.168.3.4/16,2001:DB8::5/116')).toEqual([['192.168.0.0/16'], ['2001:db8::/116']]);
    expect(parseCidrGroups('')).toEqual([]);
    expect(parseCidrGroups('  ')).toEqual([]);
  });

  it('errors name the bad part', () => {
    const c = '172.168.1.0/24';
    expect(() => parseCidrGroups(`[${c}, ${c}], [[${c}],,[${c}]`)).toThrow('unexpected "[" at position 34 of "[172.168.1.0/24,172.168.1.0/24],[[172.168.1.0/24],,[172.168.1.0/24]": groups cannot be nested');
    expect(() => parseCidrGroups(`[${c}, ${c}`)).toThrow('group opened with "[" is not closed');
    expect(() => parseCidrGroups(`[${c}, ${c}],`)).toThrow('empty item after the last ","');
    expect(() => parseCidrGroups(`[${c}, ${c}][${c}]`)).toThrow('expected "," after "]"');
    expect(() => parseCidrGroups(`[${c}, ${c}],[]`)).toThrow('empty group');
    expect(() => parseCidrGroups(`[${c},, ${c}]`)).toThrow('empty item at position 17');
    expect(() => parseCidrGroups('[172.168.1./24]')).toThrow('"172.168.1./24" is not a CIDR');
    expect(() => parseCidrGroups(`${c}]`)).toThrow('no group is open');
    expect(() => parseCidrGroups(`${c}[10.0.0.0/8]`)).toThrow('expected "," between items');
    expect(() => parseCidrGroups(',')).toThrow('empty item');
  });

  it('parseBracketGroups works for any item (e.g. NSM_AWARENESS_GROUPS URLs)', () => {
    expect(parseBracketGroups('[kernel://a?x=1,kernel://b],kernel://c', (s) => s)).toEqual([['kernel://a?x=1', 'kernel://b'], ['kernel://c']]);
  });
});

describe('strictIpam', () => {
  it('addresses in use by another connection are dropped from the request, so the IPAM allocates (upstream TestOverlappingAddresses)', () => {
    const t = setup(strictIpam(point2pointIpam(['172.16.0.0/24']), ['172.16.0.0/24']));
    const requested = {
      srcIpAddrs: ['172.16.0.1/32', '172.16.0.25/32'],
      dstIpAddrs: ['172.16.0.0/32', '172.16.0.24/32'],
      srcRoutes: [{ prefix: '172.16.0.0/32', nextHop: '' }, { prefix: '172.16.0.24/32', nextHop: '' }],
      dstRoutes: [{ prefix: '172.16.0.1/32', nextHop: '' }, { prefix: '172.16.0.25/32', nextHop: '' }],
    };
    const c1 = t.request('empty');
    expect(ipOf(c1)).toEqual(pair('172.16.0.0/32', '172.16.0.1/32'));
    const c2 = t.request('id', structuredClone(requested));
    expect(ipOf(c2)).toEqual(pair('172.16.0.24/32', '172.16.0.25/32'));
    t.close(c1);
    const again = t.request('id', structuredClone(requested));
    expect(ipOf(again)).toEqual({
      dst: ['172.16.0.0/32', '172.16.0.24/32'],
      src: ['172.16.0.1/32', '172.16.0.25/32'],
      srcRoutes: ['172.16.0.0/32', '172.16.0.24/32'],
      dstRoutes: ['172.16.0.1/32', '172.16.0.25/32'],
    });
  });

  it('client addresses outside the CIDRs are removed with their routes (upstream TestNSEReplace)', () => {
    const t = setup(strictIpam(point2pointIpam(['172.16.2.0/29']), ['172.16.2.0/29']));
    const conn = t.request('id1', {
      srcIpAddrs: ['172.16.1.1/32'],
      dstIpAddrs: ['172.16.1.0/32'],
      srcRoutes: [{ prefix: '172.16.1.0/32', nextHop: '' }],
      dstRoutes: [{ prefix: '172.16.1.1/32', nextHop: '' }],
    });
    expect(ipOf(conn)).toEqual(pair('172.16.2.0/32', '172.16.2.1/32'));
  });

  it('the same request under the polite policy keeps the foreign addresses', () => {
    const t = setup(point2pointIpam(['172.16.2.0/29']));
    const conn = t.request('id1', { srcIpAddrs: ['172.16.1.1/32'], dstIpAddrs: ['172.16.1.0/32'] });
    expect(ipOf(conn).src).toEqual(['172.16.1.1/32', '172.16.2.1/32']);
  });

  it('valid client addresses reach the IPAM (which recovers them); unparsable ones are dropped', () => {
    const t = setup(strictIpam(point2pointIpam(['172.16.1.0/29']), ['172.16.1.0/29']));
    const conn = t.request('a', { srcIpAddrs: ['172.16.1.5/32', 'junk'], dstIpAddrs: ['172.16.1.4/32'] });
    expect(ipOf(conn)).toEqual(pair('172.16.1.4/32', '172.16.1.5/32'));
    // a refresh keeps them: they are the connection's own
    expect(ipOf(t.refresh(conn))).toEqual(pair('172.16.1.4/32', '172.16.1.5/32'));
    // another connection cannot claim them
    const other = t.request('b', { srcIpAddrs: ['172.16.1.5/32'], dstIpAddrs: ['172.16.1.4/32'] });
    expect(ipOf(other)).toEqual(pair('172.16.1.0/32', '172.16.1.1/32'));
    // after Close they are free to claim
    t.close(conn);
    const third = t.request('c', { srcIpAddrs: ['172.16.1.5/32'], dstIpAddrs: ['172.16.1.4/32'] });
    expect(ipOf(third)).toEqual(pair('172.16.1.4/32', '172.16.1.5/32'));
  });

  it('a refresh is idempotent: a client address the IPAM kept is still valid for its own connection (upstream would drop it)', () => {
    const t = setup(strictIpam(point2pointIpam(['172.16.1.0/29']), ['172.16.1.0/29']));
    // one-sided: the IPAM cannot recover it, so it allocates and keeps the sent address too (polite IPAM)
    const conn = t.request('a', { srcIpAddrs: ['172.16.1.5/32'] });
    expect(ipOf(conn).src).toEqual(['172.16.1.5/32', '172.16.1.1/32']);
    expect(ipOf(t.refresh(conn))).toEqual(ipOf(conn));
    // but another connection cannot claim it
    expect(ipOf(t.request('b', { srcIpAddrs: ['172.16.1.5/32'] })).src).toEqual(['172.16.1.3/32']);
  });
});

describe('NSM_IPAM_POLICY', () => {
  it('parses polite/strict in any case', () => {
    expect(parseIpamPolicy('polite')).toBe('polite');
    expect(parseIpamPolicy('STRICT')).toBe('strict');
    expect(() => parseIpamPolicy('rude')).toThrow('"rude" is not an IPAM policy (expected polite or strict)');
  });

  it('ipamForPolicy: strict drops foreign addresses, polite keeps them', () => {
    const req = { srcIpAddrs: ['10.9.9.9/32'], dstIpAddrs: ['10.9.9.8/32'] };
    const strict = setup(ipamForPolicy('strict', [['172.16.1.100/31'], ['2001:db8::/116']]));
    expect(ipOf(strict.request('a', req)).src).toEqual(['172.16.1.101/32', '2001:db8::1/128']);
    const polite = setup(ipamForPolicy('polite', [['172.16.1.100/31'], ['2001:db8::/116']]));
    expect(ipOf(polite.request('a', req)).src).toEqual(['10.9.9.9/32', '172.16.1.101/32', '2001:db8::1/128']);
  });
});

import { status } from '../core/status.js';
import { of, timer } from 'rxjs';
import { map } from 'rxjs/operators';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { NsmError } from '../core/errors.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { parseIp } from '../tools/cidr.js';
import { metadata } from './metadata.js';
import { point2pointIpam } from './point2pointIpam.js';
import { errorOf, sync } from '../../test/sync.js';
import { ipOf, pair, setup } from '../../test/ipam.js';

describe('point2pointIpam', () => {
  it('/31 rule: NSM_CIDR_PREFIX=172.16.1.100/31 gives the NSE .100 and the client .101', () => {
    const t = setup(point2pointIpam(['172.16.1.100/31']));
    const conn = t.request('a');
    expect(ipOf(conn)).toEqual(pair('172.16.1.100/32', '172.16.1.101/32'));
    // routes carry no next hop: the other side's address is implied
    expect(conn.context!.ipContext!.srcRoutes[0]!.nextHop).toBe('');
  });

  it('hands out consecutive pairs from the network address up, next fit: a Closed pair comes back only once the prefix wrapped', () => {
    const t = setup(point2pointIpam(['192.168.3.4/29']));
    const c1 = t.request('1');
    expect(ipOf(c1)).toEqual(pair('192.168.3.0/32', '192.168.3.1/32'));
    expect(ipOf(t.request('2'))).toEqual(pair('192.168.3.2/32', '192.168.3.3/32'));
    t.close(c1);
    expect(t.meta.connections.has('1')).toBe(false);
    expect(ipOf(t.request('3'))).toEqual(pair('192.168.3.4/32', '192.168.3.5/32'));
    expect(ipOf(t.request('4'))).toEqual(pair('192.168.3.6/32', '192.168.3.7/32'));
    // the end of the prefix: the lowest free again
    expect(ipOf(t.request('5'))).toEqual(pair('192.168.3.0/32', '192.168.3.1/32'));
  });

  it('IPv6: /128 addresses in canonical form', () => {
    const t = setup(point2pointIpam(['fe80::/64']));
    const c1 = t.request('1');
    expect(ipOf(c1)).toEqual(pair('fe80::/128', 'fe80::1/128'));
    expect(ipOf(t.request('2'))).toEqual(pair('fe80::2/128', 'fe80::3/128'));
    t.close(c1);
    expect(ipOf(t.request('3'))).toEqual(pair('fe80::4/128', 'fe80::5/128'));
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
    expect(ipOf(t.request('b'))).toEqual(pair('192.168.0.6/32', '192.168.0.7/32'));
  });

  it('only the src address excluded is enough to move the pair', () => {
    const t = setup(point2pointIpam(['10.0.0.0/24']));
    const c = t.request('a');
    expect(ipOf(t.refresh(c, { excludedPrefixes: ['10.0.0.1/32'] }))).toEqual(pair('10.0.0.2/32', '10.0.0.3/32'));
  });

  it('recovers the requested addresses for an unknown connection when they are free and in the pool', () => {
    const ipam = point2pointIpam(['192.168.0.0/24']);
    const t = setup(ipam);
    // e.g. the NSE restarted and the client refreshes with what it had
    const c = t.request('a', { srcIpAddrs: ['192.168.0.7/32'], dstIpAddrs: ['192.168.0.6/32'] });
    expect(ipOf(c)).toEqual(pair('192.168.0.6/32', '192.168.0.7/32'));
    expect(ipam.pools[0]!.has(parseIp('192.168.0.6'))).toBe(false);
    expect(ipOf(t.request('b'))).toEqual(pair('192.168.0.0/32', '192.168.0.1/32'));
    // a third connection asking for b's addresses cannot have them: it gets a new pair, and b's leave its context
    const d = t.request('c', { srcIpAddrs: ['192.168.0.1/32'], dstIpAddrs: ['192.168.0.0/32'] });
    expect(ipOf(d)).toEqual(pair('192.168.0.2/32', '192.168.0.3/32'));
  });

  it('reselected back after its Close: next fit gave the pair to no one meanwhile, so the connection keeps its addresses (soak: heal Closes, churn Requests, heal Requests)', () => {
    const t = setup(point2pointIpam(['192.168.0.0/24']));
    const first = t.request('a');
    t.close('a');
    expect(ipOf(t.request('churn'))).toEqual(pair('192.168.0.2/32', '192.168.0.3/32'));
    expect(ipOf(t.request('a', first.context!.ipContext!))).toEqual(pair('192.168.0.0/32', '192.168.0.1/32'));
  });

  it('reselected back while its old pair went to another connection (the prefix wrapped): one new pair, the old one and its routes gone from the context, others’ addresses kept (soak regression: addresses piled up on the interface)', () => {
    const t = setup(point2pointIpam(['192.168.0.0/29']));
    const first = t.request('a');
    expect(ipOf(first)).toEqual(pair('192.168.0.0/32', '192.168.0.1/32'));
    t.close('a'); // heal's reselect Closes first…
    t.request('b');
    t.request('c');
    t.request('d');
    t.close('b');
    expect(ipOf(t.request('churn'))).toEqual(pair('192.168.0.0/32', '192.168.0.1/32')); // …and another client takes the pair meanwhile
    const ip = first.context!.ipContext!;
    const back = t.request('a', { ...ip, srcIpAddrs: [...ip.srcIpAddrs, '10.9.0.1/32'], srcRoutes: [...ip.srcRoutes, { prefix: '10.9.0.0/16', nextHop: '' }] });
    expect(ipOf(back)).toEqual({ dst: ['192.168.0.2/32'], src: ['10.9.0.1/32', '192.168.0.3/32'], srcRoutes: ['10.9.0.0/16', '192.168.0.2/32'], dstRoutes: ['192.168.0.3/32'] });
  });

  it('does not recover excluded, out-of-pool or one-sided addresses; a half that was found is not leaked', () => {
    const ipam = point2pointIpam(['192.168.0.0/24']);
    const t = setup(ipam);
    const excluded = t.request('a', { srcIpAddrs: ['192.168.0.9/32'], dstIpAddrs: ['192.168.0.8/32'], excludedPrefixes: ['192.168.0.8/32'] });
    expect(ipOf(excluded)).toEqual(pair('192.168.0.0/32', '192.168.0.1/32'));
    // .9 was found but .8 was not: .9 went back
    expect(ipam.pools[0]!.has(parseIp('192.168.0.9'))).toBe(true);
    // addresses outside our prefixes are someone else's: kept
    const outside = t.request('b', { srcIpAddrs: ['10.0.0.1/32'], dstIpAddrs: ['10.0.0.0/32'] });
    expect(ipOf(outside).src).toEqual(['10.0.0.1/32', '192.168.0.3/32']);
    expect(ipOf(outside).dst).toEqual(['10.0.0.0/32', '192.168.0.2/32']);
    const oneSided = t.request('c', { srcIpAddrs: ['192.168.0.50/32'] });
    expect(ipOf(oneSided)).toEqual(pair('192.168.0.4/32', '192.168.0.5/32'));
    expect(ipam.pools[0]!.has(parseIp('192.168.0.50'))).toBe(true);
  });

  it('a failed first Request frees its pair', () => {
    const ipam = point2pointIpam(['192.168.0.0/16']);
    const t = setup(ipam, { failAt: [0] });
    expect(errorOf(() => t.request('a')).message).toBe('next failed');
    expect(t.meta.connections.size).toBe(0);
    expect(ipam.pools[0]!.has(parseIp('192.168.0.0'))).toBe(true);
    expect(ipam.pools[0]!.has(parseIp('192.168.0.1'))).toBe(true);
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

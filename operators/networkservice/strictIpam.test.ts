import { describe, expect, it } from 'vitest';
import { point2pointIpam } from './point2pointIpam.js';
import { strictIpam } from './strictIpam.js';
import { ipOf, pair, setup } from '../../test/ipam.js';

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

  it('a refresh is idempotent: the connection’s own addresses stay valid for it; another connection cannot claim them', () => {
    const t = setup(strictIpam(point2pointIpam(['172.16.1.0/29']), ['172.16.1.0/29']));
    // one-sided: the IPAM cannot recover it, so it allocates a pair and drops the sent address
    const conn = t.request('a', { srcIpAddrs: ['172.16.1.5/32'] });
    expect(ipOf(conn).src).toEqual(['172.16.1.1/32']);
    expect(ipOf(t.refresh(conn))).toEqual(ipOf(conn));
    expect(ipOf(t.request('b', { srcIpAddrs: ['172.16.1.1/32'] })).src).toEqual(['172.16.1.3/32']);
  });
});

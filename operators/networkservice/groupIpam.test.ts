import { status } from '../core/status.js';
import { describe, expect, it } from 'vitest';
import { parseCidrGroups } from '../tools/cidrGroups.js';
import { groupIpam } from './groupIpam.js';
import { point2pointIpam } from './point2pointIpam.js';
import { errorOf } from '../../test/sync.js';
import { ipOf, setup } from '../../test/ipam.js';

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
    // the /31 wraps to its only pair; the v6 prefix hands out its next
    expect(ipOf(t.request('3')).src).toEqual(['172.16.1.101/32', '2001:db8::3/128']);
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

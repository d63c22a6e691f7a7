import { describe, expect, it } from 'vitest';
import { ipamForPolicy, parseIpamPolicy } from './ipamPolicy.js';
import { ipOf, setup } from '../../test/ipam.js';

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

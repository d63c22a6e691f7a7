import { describe, expect, it } from 'vitest';
import { isSpiffeId, parseSpiffeId } from './spiffeId.js';

describe('parseSpiffeId', () => {
  it('splits trust domain and path', () => {
    expect(parseSpiffeId('spiffe://example.org/ns/nsm-system/sa/nsmgr')).toEqual({
      trustDomain: 'example.org',
      path: '/ns/nsm-system/sa/nsmgr',
      href: 'spiffe://example.org/ns/nsm-system/sa/nsmgr',
    });
    expect(parseSpiffeId('spiffe://td').path).toBe('');
  });

  it.each([
    ['', /scheme/],
    ['https://example.org/x', /scheme/],
    ['spiffe://', /trust domain is empty/],
    ['spiffe://Example.org/x', /trust domain/],
    ['spiffe://example.org:443/x', /trust domain/],
    ['spiffe://user@example.org/x', /trust domain/],
    ['spiffe://example.org/', /empty segment/],
    ['spiffe://example.org/a//b', /empty segment/],
    ['spiffe://example.org/a/../b', /\.\./],
    ['spiffe://example.org/a?b=c', /path segment/],
    ['spiffe://example.org/a#frag', /path segment/],
    ['spiffe://example.org/%41', /path segment/],
    [`spiffe://example.org/${'a'.repeat(2100)}`, /2048/],
  ])('refuses %j naming why', (raw, why) => {
    expect(isSpiffeId(raw)).toBe(false);
    expect(() => parseSpiffeId(raw)).toThrow(why);
  });
});

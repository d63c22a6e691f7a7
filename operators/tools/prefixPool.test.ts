import { describe, expect, it } from 'vitest';
import { PrefixPool } from './prefixPool.js';

describe('PrefixPool (vl3 blocks)', () => {
  it('hands out the lowest free aligned block, the requested one when all of it is free, and takes blocks back', () => {
    const pool = new PrefixPool('172.16.0.0/16', 24);
    expect(pool.allocate('', [])).toBe('172.16.0.0/24');
    expect(pool.allocate('', [])).toBe('172.16.1.0/24');
    expect(pool.allocate('172.16.7.0/24', [])).toBe('172.16.7.0/24');
    expect(pool.allocate('172.16.7.0/24', [])).toBe('172.16.2.0/24'); // taken: the next free one
    expect(pool.allocate('172.16.9.0/30', [])).toBe('172.16.9.0/30'); // a reconnecting NSE keeps its own, whatever its length
    expect(pool.allocate('', ['172.16.3.0/24', '172.16.4.7/32', 'fd00::/8'])).toBe('172.16.5.0/24');
    pool.release('172.16.0.0/24');
    pool.release('10.0.0.0/8'); // never ours: ignored
    expect(pool.allocate('', [])).toBe('172.16.0.0/24');
    expect(pool.allocate('10.0.0.0/24', [])).toBe('172.16.3.0/24');
  });

  it('undefined when nothing fits; bad values and lengths are named', () => {
    const small = new PrefixPool('172.16.0.0/23', 24);
    expect([small.allocate('', []), small.allocate('', []), small.allocate('', [])]).toEqual(['172.16.0.0/24', '172.16.1.0/24', undefined]);
    expect(() => small.allocate('nope', [])).toThrow('prefix "nope" is not a CIDR');
    expect(() => small.allocate('', ['x'])).toThrow('exclude_prefixes[0] "x" is not a CIDR');
    expect(() => new PrefixPool('172.16.0.0/16', 12)).toThrow('a /12 block does not fit in 172.16.0.0/16: expected 16 to 32');
    expect(() => new PrefixPool('nope', 24)).toThrow('"nope" is not a CIDR');
    expect(new PrefixPool('fd00::/112', 120).allocate('', [])).toBe('fd00::/120');
  });
});

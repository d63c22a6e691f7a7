import { describe, expect, it } from 'vitest';
import { allocateVni, evenVni } from './vni.js';

describe('VNI choice (upstream EvenVNI)', () => {
  it('the side whose address sorts first picks even VNIs, the other odd ones; unparsable src → even, unparsable dst → odd', () => {
    expect(evenVni('10.0.0.1', '10.0.0.2')).toBe(true);
    expect(evenVni('10.0.0.2', '10.0.0.1')).toBe(false);
    expect(evenVni('10.0.0.1', '10.0.0.1')).toBe(true);
    expect(evenVni('fd00::1', 'fd00::2')).toBe(true);
    expect(evenVni('fd00::2', 'fd00::1')).toBe(false);
    expect(evenVni('10.0.0.9', 'fd00::1')).toBe(true); // v4 maps to ::ffff:…, below fd00::
    expect(evenVni('', '10.0.0.1')).toBe(true);
    expect(evenVni('10.0.0.1', 'x')).toBe(false);
  });

  it('allocates 24-bit non-zero VNIs of the right parity, never one in use', () => {
    const used = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const even = allocateVni('10.0.0.1', '10.0.0.2', used);
      const odd = allocateVni('10.0.0.2', '10.0.0.1', used);
      expect(even % 2).toBe(0);
      expect(odd % 2).toBe(1);
      for (const v of [even, odd]) {
        expect(v).toBeGreaterThan(0);
        expect(v).toBeLessThanOrEqual(0xffffff);
        expect(used.has(v)).toBe(false);
        used.add(v);
      }
    }
  });
});

import { describe, expect, it } from 'vitest';
import { Vl3Ipam } from './vl3Ipam.js';

describe('Vl3Ipam (a vl3 NSE’s addresses)', () => {
  it('own address first of the prefix, clients from the rest, the global prefix half the length; reset starts over and is announced', () => {
    const ipam = new Vl3Ipam('10.0.0.1/24', ['10.0.0.2/32']);
    expect([ipam.selfAddress(), ipam.selfIp(), ipam.selfPrefix(), ipam.globalPrefix()]).toEqual(['10.0.0.0/32', '10.0.0.0', '10.0.0.0/24', '10.0.0.0/16']);
    expect([ipam.allocate(), ipam.allocate()]).toEqual(['10.0.0.1/32', '10.0.0.3/32']);
    ipam.freeIfAllocated('10.0.0.1/32');
    ipam.freeIfAllocated('10.0.0.0/32'); // its own: stays taken
    ipam.freeIfAllocated('10.0.0.2/32'); // excluded, never handed out: stays out
    expect([ipam.allocate(), ipam.allocate()]).toEqual(['10.0.0.1/32', '10.0.0.4/32']);
    ipam.reset('10.0.0.0/24', ['10.0.0.2/32']); // the same prefix again: 10.0.0.1, .3 and .4 stay taken
    expect(ipam.allocate()).toBe('10.0.0.5/32');
    let resets = 0;
    const sub = ipam.resets$.subscribe(() => resets++);
    ipam.reset('172.16.5.0/24');
    sub.unsubscribe();
    expect([resets, ipam.selfPrefix(), ipam.allocate(), ipam.globalPrefix()]).toEqual([1, '172.16.5.0/24', '172.16.5.1/32', '172.16.0.0/16']);
    expect(new Vl3Ipam('fd00::/120').globalPrefix()).toBe('fd00::/64');
  });

  it('nothing before a prefix; undefined once used up', () => {
    const waiting = new Vl3Ipam();
    expect(waiting.initialized).toBe(false);
    expect(() => waiting.selfAddress()).toThrow('vl3 prefix pool is initializing');
    const tiny = new Vl3Ipam('10.0.0.0/31');
    expect([tiny.allocate(), tiny.allocate()]).toEqual(['10.0.0.1/32', undefined]);
  });
});

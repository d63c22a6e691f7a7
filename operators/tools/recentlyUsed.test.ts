import { describe, expect, it } from 'vitest';
import { RecentlyUsed } from './recentlyUsed.js';

describe('RecentlyUsed', () => {
  it('holds at most its capacity, forgetting the entry read or set least recently', () => {
    const cache = new RecentlyUsed<string, number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1); // a is now the most recent
    cache.set('c', 3);
    expect([cache.get('a'), cache.get('b'), cache.get('c'), cache.size]).toEqual([1, undefined, 3, 2]);
    cache.set('a', 4); // setting a known key refreshes it without growing
    cache.set('d', 5);
    expect([cache.get('a'), cache.get('c'), cache.get('d'), cache.size]).toEqual([4, undefined, 5, 2]);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new RecentlyUsed(0)).toThrow('RecentlyUsed needs a capacity of at least 1, got 0');
  });
});

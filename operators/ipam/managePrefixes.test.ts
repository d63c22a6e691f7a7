import { status } from '../core/status.js';
import { describe, expect, it } from 'vitest';
import { PrefixRequest, Type } from '../../proto/gen/ipam.js';
import { PrefixPool } from '../tools/prefixPool.js';
import { marbles } from '../../test/marbles.js';
import { managePrefixes } from './managePrefixes.js';

const allocate = (prefix = '', excludePrefixes: string[] = []) => PrefixRequest.fromPartial({ type: Type.ALLOCATE, prefix, excludePrefixes });
const remove = (prefix: string) => PrefixRequest.fromPartial({ type: Type.DELETE, prefix });

describe('managePrefixes (ipam-vl3)', () => {
  it('answers each ALLOCATE; DELETE gives one back; the rest goes back when the stream ends', () => {
    const pool = new PrefixPool('172.16.0.0/16', 24);
    marbles(({ cold, expectObservable }) => {
      const requests = cold('a-b-c-d-|', { a: allocate(), b: allocate('172.16.9.0/24', ['10.0.0.0/8']), c: remove('172.16.0.0/24'), d: allocate() });
      expectObservable(managePrefixes(pool)(requests)).toBe('a-b---d-|', {
        a: { prefix: '172.16.0.0/24', excludePrefixes: [] },
        b: { prefix: '172.16.9.0/24', excludePrefixes: ['10.0.0.0/8'] },
        d: { prefix: '172.16.0.0/24', excludePrefixes: [] },
      });
    });
    // Everything came back: a new stream starts from the bottom again.
    marbles(({ cold, expectObservable }) => {
      expectObservable(managePrefixes(pool)(cold('a|', { a: allocate('172.16.9.0/24') }))).toBe('a|', { a: { prefix: '172.16.9.0/24', excludePrefixes: [] } });
    });
  });

  it('an empty pool: RESOURCE_EXHAUSTED naming it (the stream ends, its prefixes go back); UNDEFINED: INVALID_ARGUMENT', () => {
    const pool = new PrefixPool('172.16.0.0/24', 24);
    marbles(({ cold, expectObservable }) => {
      const first = managePrefixes(pool)(cold('a----|', { a: allocate() }));
      const second = managePrefixes(pool)(cold('-a', { a: allocate() }));
      expectObservable(first).toBe('a----|', { a: { prefix: '172.16.0.0/24', excludePrefixes: [] } });
      expectObservable(second).toBe(
        '-#',
        undefined,
        expect.objectContaining({ code: status.RESOURCE_EXHAUSTED, message: expect.stringContaining('the vl3 prefix pool 172.16.0.0/24 has no free /24') }),
      );
      expectObservable(managePrefixes(pool)(cold('------a', { a: allocate() }))).toBe('------a', { a: { prefix: '172.16.0.0/24', excludePrefixes: [] } });
      expectObservable(managePrefixes(pool)(cold('u', { u: PrefixRequest.fromPartial({ type: Type.UNDEFINED }) }))).toBe(
        '#',
        undefined,
        expect.objectContaining({ code: status.INVALID_ARGUMENT, message: expect.stringContaining('request type UNDEFINED is undefined') }),
      );
    });
  });
});

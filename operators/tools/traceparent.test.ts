import { describe, expect, it } from 'vitest';
import { formatTraceparent, parseTraceparent } from './traceparent.js';

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const spanId = '00f067aa0ba902b7';

describe('traceparent', () => {
  it('reads the W3C example, sampled or not, and writes it back', () => {
    const sampled = parseTraceparent(`00-${traceId}-${spanId}-01`, 'congo=t61rcWkgMzE');
    expect(sampled).toEqual({ traceId, spanId, sampled: true, traceState: 'congo=t61rcWkgMzE' });
    expect(formatTraceparent(sampled!)).toBe(`00-${traceId}-${spanId}-01`);
    expect(parseTraceparent(`00-${traceId}-${spanId}-00`)?.sampled).toBe(false);
    expect(parseTraceparent(`00-${traceId}-${spanId}-03`)?.sampled).toBe(true);
  });

  it('accepts a later version with more fields, and surrounding blanks', () => {
    expect(parseTraceparent(`cc-${traceId}-${spanId}-01-what-the-future-brings`)?.traceId).toBe(traceId);
    expect(parseTraceparent(` 00-${traceId}-${spanId}-01 `)?.spanId).toBe(spanId);
  });

  it.each([
    ['no header', undefined],
    ['too short', `00-${traceId}-${spanId}-0`],
    ['version ff', `ff-${traceId}-${spanId}-01`],
    ['version 00 with more fields', `00-${traceId}-${spanId}-01-x`],
    ['upper-case hex', `00-${traceId.toUpperCase()}-${spanId}-01`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${spanId}-01`],
    ['all-zero parent id', `00-${traceId}-${'0'.repeat(16)}-01`],
    ['a wrong separator', `00_${traceId}-${spanId}-01`],
    ['non-hex flags', `00-${traceId}-${spanId}-0g`],
  ])('ignores %s', (_, header) => {
    expect(parseTraceparent(header)).toBeUndefined();
  });
});

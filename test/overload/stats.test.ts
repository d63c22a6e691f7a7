import { describe, expect, it } from 'vitest';
import { latency, memoryBound, messages, percentile, tally, type Outcome } from './stats.js';

describe('overload arithmetic', () => {
  it('percentile is nearest-rank: p50 of 1..10 is 5, p99 of 1..100 is 99, p100 the max; empty → undefined', () => {
    const ten = Array.from({ length: 10 }, (_, i) => i + 1);
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(ten, 0.5)).toBe(5);
    expect(percentile(hundred, 0.99)).toBe(99);
    expect(percentile(hundred, 1)).toBe(100);
    expect(percentile([7], 0)).toBe(7);
    expect(percentile([], 0.5)).toBeUndefined();
  });

  const outcomes: Outcome[] = [
    { code: 'RESOURCE_EXHAUSTED', message: 'too many', ms: 3 },
    { code: 'OK', ms: 10 },
    { code: 'UNAVAILABLE', message: 'x', ms: 1 },
    { code: 'RESOURCE_EXHAUSTED', message: 'too many', ms: 2 },
    { code: 'OK', ms: 20 },
    { code: 'OK', ms: 30 },
  ];

  it('tally puts OK first, then codes by count', () => {
    expect(tally(outcomes)).toEqual([
      ['OK', 3],
      ['RESOURCE_EXHAUSTED', 2],
      ['UNAVAILABLE', 1],
    ]);
  });

  it('messages groups failures by code and message shape (figures as #), most frequent first', () => {
    expect(messages(outcomes)).toEqual([
      { code: 'RESOURCE_EXHAUSTED', message: 'too many', count: 2 },
      { code: 'UNAVAILABLE', message: 'x', count: 1 },
    ]);
    const late = (s: string): Outcome => ({ code: 'DEADLINE_EXCEEDED', message: `Deadline exceeded after ${s}s`, ms: 1 });
    expect(messages([late('64.713'), late('66.4'), late('7')])).toEqual([{ code: 'DEADLINE_EXCEEDED', message: 'Deadline exceeded after #s', count: 3 }]);
  });

  it('latency reads every call, failures included', () => {
    expect(latency(outcomes)).toEqual({ p50: 3, p99: 30, max: 30 });
    expect(latency([])).toEqual({ p50: undefined, p99: undefined, max: undefined });
  });

  it('the memory bound is linear in the burst', () => {
    expect(memoryBound(0, 100, 5)).toBe(100);
    expect(memoryBound(10_000, 256 * 2 ** 20, 32 * 1024)).toBe(256 * 2 ** 20 + 10_000 * 32 * 1024);
  });
});

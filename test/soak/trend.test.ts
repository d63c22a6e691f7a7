import { describe, expect, it } from 'vitest';
import { slope, trend } from './trend.js';

describe('soak trends', () => {
  it('slope is least squares: exact on a line, 0 on a flat or a too-short series', () => {
    expect(slope([0, 1, 2, 3], [5, 7, 9, 11])).toBeCloseTo(2);
    expect(slope([0, 1, 2], [4, 4, 4])).toBe(0);
    expect(slope([0], [1])).toBe(0);
    expect(slope([1, 1], [0, 5])).toBe(0);
  });

  it('judges only the last half: a warm-up climb does not count, a leak there does', () => {
    const t = Array.from({ length: 121 }, (_, i) => i * 30); // an hour, every 30 s
    const warmUpThenFlat = t.map((x) => (x < 1200 ? 100 + x / 10 : 220));
    const leaking = t.map((x) => 100 + x / 100); // 36 a hour
    const allowance = { relative: 0.05, absolute: 2 };
    expect(trend({ t, v: warmUpThenFlat }, allowance)).toMatchObject({ mean: 220, perHour: 0, flat: true });
    const leak = trend({ t, v: leaking }, allowance);
    expect(leak.perHour).toBeCloseTo(36);
    expect(leak.allowedPerHour).toBeCloseTo(0.05 * leak.mean + 2);
    expect(leak.flat).toBe(false);
  });

  it('a sawtooth (collected garbage) around a flat level is flat', () => {
    const t = Array.from({ length: 720 }, (_, i) => i * 5);
    const v = t.map((x) => 50 + (x % 60) / 6);
    expect(trend({ t, v }, { relative: 0.05, absolute: 0 }).flat).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { connectionWindow } from './faultWindow.js';

const every100ms = (from: number, to: number): number[] => Array.from({ length: Math.round((to - from) / 0.1) + 1 }, (_, i) => Number((from + i * 0.1).toFixed(3)));

describe('connectionWindow', () => {
  it('a ping that never stopped: its usual spacing, up at once', () => {
    const w = connectionWindow(every100ms(100, 110), 105.05);
    expect(w.gapS).toBeCloseTo(0.1);
    expect(w.upS).toBe(0);
  });

  it('a silence across the fault: its length, and up when replies came back', () => {
    const w = connectionWindow([...every100ms(100, 105), ...every100ms(106.5, 110)], 105.05);
    expect(w.gapS).toBeCloseTo(1.5);
    expect(w.upS).toBeCloseTo(1.45);
  });

  it('two silences: the longest counts, up after the last', () => {
    const w = connectionWindow([...every100ms(100, 105), ...every100ms(106, 107), ...every100ms(107.5, 110)], 105.05);
    expect(w.gapS).toBeCloseTo(1);
    expect(w.upS).toBeCloseTo(2.45);
  });

  it('no reply since the fault yet: no figures to give', () => {
    expect(connectionWindow(every100ms(100, 105), 105.05)).toEqual({ gapS: 0, upS: 0 });
  });
});

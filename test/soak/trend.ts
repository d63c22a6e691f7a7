/** A figure sampled over a run: times (s from the start) and values. */
export interface Series {
  readonly t: number[];
  readonly v: number[];
}

/** How much a figure may grow per hour over the last half of a soak and still count as flat: a share of its mean plus a constant. */
export interface Allowance {
  readonly relative: number;
  readonly absolute: number;
}

/** Least-squares slope of `v` over `t` (units of v per unit of t); 0 for fewer than two points. */
export function slope(t: readonly number[], v: readonly number[]): number {
  const n = Math.min(t.length, v.length);
  if (n < 2) return 0;
  const mean = (xs: readonly number[]) => xs.slice(0, n).reduce((a, b) => a + b, 0) / n;
  const [mt, mv] = [mean(t), mean(v)];
  let [num, den] = [0, 0];
  for (let i = 0; i < n; i++) {
    num += ((t[i] as number) - mt) * ((v[i] as number) - mv);
    den += ((t[i] as number) - mt) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** A figure's trend over the last half of the run. */
export interface Trend {
  /** Mean over the last half. */
  readonly mean: number;
  /** Growth per hour over the last half (least squares). */
  readonly perHour: number;
  /** What `allowance` lets it grow per hour. */
  readonly allowedPerHour: number;
  readonly flat: boolean;
}

/** The trend of `s` over its last half (by time), judged against `allowance`. */
export function trend(s: Series, allowance: Allowance): Trend {
  const end = s.t.at(-1) ?? 0;
  const from = s.t.findIndex((x) => x >= end / 2);
  const [t, v] = [s.t.slice(Math.max(0, from)), s.v.slice(Math.max(0, from))];
  const mean = v.length === 0 ? 0 : v.reduce((a, b) => a + b, 0) / v.length;
  const perHour = slope(t, v) * 3600;
  const allowedPerHour = allowance.relative * Math.abs(mean) + allowance.absolute;
  return { mean, perHour, allowedPerHour, flat: perHour <= allowedPerHour };
}

// The overload runner's arithmetic: outcomes tallied by status, latency percentiles, the memory
// bound a daemon's peak RSS is judged against. Pure, so that a unit test can pin it down.

/** How one call of a burst ended: `code` is 'OK', a gRPC status name, or 'NO ANSWER' (hung past its deadline and the slack). */
export interface Outcome {
  readonly code: string;
  readonly message?: string;
  /** From firing to the answer, ms. */
  readonly ms: number;
}

/** The code of a call that got nothing back within its deadline and the slack. */
export const noAnswer = 'NO ANSWER';
/** Codes that are not an answer a caller can act on: nothing, or a status without a meaning. */
export const unanswered: readonly string[] = [noAnswer, 'UNKNOWN'];

/** Nearest-rank percentile (`q` in 0..1) of values already sorted ascending; undefined when empty. */
export function percentile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Calls per code, OK first, then the rest by count (largest first). */
export function tally(outcomes: readonly Outcome[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o.code, (counts.get(o.code) ?? 0) + 1);
  return [...counts].sort(([a, x], [b, y]) => (a === 'OK' ? -1 : b === 'OK' ? 1 : y - x || a.localeCompare(b)));
}

/** A message with its figures as # ("Deadline exceeded after 64.713s" and "… after 66.425s" are one message). */
export const shape = (message: string): string => message.replace(/\d+(\.\d+)?/g, '#');

/** One message per distinct (code, message shape) that is not OK, with how many calls got it: what a reader needs to see. */
export function messages(outcomes: readonly Outcome[], limit = 10): { code: string; message: string; count: number }[] {
  const counts = new Map<string, { code: string; message: string; count: number }>();
  for (const o of outcomes) {
    if (o.code === 'OK') continue;
    const message = shape(o.message ?? '');
    const key = `${o.code}\u0000${message}`;
    const seen = counts.get(key) ?? { code: o.code, message, count: 0 };
    seen.count++;
    counts.set(key, seen);
  }
  return [...counts.values()].sort((a, b) => b.count - a.count).slice(0, limit);
}

export interface Latency {
  readonly p50: number | undefined;
  readonly p99: number | undefined;
  readonly max: number | undefined;
}

export function latency(outcomes: readonly Outcome[]): Latency {
  const sorted = outcomes.map((o) => o.ms).sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) };
}

/**
 * The peak RSS a daemon may reach during a burst of `calls`: `base` (what an idle daemon holds
 * plus the V8 heap's own headroom) and `perCall` for every call it may hold at once. Linear in
 * the burst: memory that grows faster than the calls it holds, or that holds what it has answered,
 * passes it.
 */
export function memoryBound(calls: number, base: number, perCall: number): number {
  return base + calls * perCall;
}

/**
 * Go `time.Duration` syntax, so `NSM_*` durations written for the upstream Go binaries
 * (`750ms`, `1m30s`, `1.5h`, `-2us`) mean exactly the same here.
 *
 * Parsing follows Go's `time.ParseDuration` step by step (integer nanoseconds, the same overflow
 * limit, the same float rounding of fractions, the same error texts) so that a value accepted or
 * rejected by upstream is accepted or rejected here. nsm-rx works in milliseconds (rxjs
 * schedulers do), so the public functions take and return milliseconds; fractions of a
 * millisecond are kept.
 */

const NS = 1n;
const US = 1000n * NS;
const MS = 1000n * US;
const S = 1000n * MS;
const M = 60n * S;
const H = 60n * M;

/** Go's unitMap: both micro signs (U+00B5 and U+03BC) are accepted, as in Go. */
const UNITS: ReadonlyMap<string, bigint> = new Map([
  ['ns', NS],
  ['us', US],
  ['\u00b5s', US],
  ['\u03bcs', US],
  ['ms', MS],
  ['s', S],
  ['m', M],
  ['h', H],
]);

/** 1<<63: Go accumulates in uint64 and allows this magnitude only for negative durations. */
const LIMIT = 1n << 63n;

const quote = (s: string): string => JSON.stringify(s);
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/**
 * Parses a Go duration string into integer nanoseconds.
 * @throws Error with Go's message, e.g. `time: invalid duration "abc"`.
 */
export function parseDurationNs(input: string): bigint {
  const invalid = (): Error => new Error(`time: invalid duration ${quote(input)}`);
  let s = input;
  let neg = false;
  if (s[0] === '-' || s[0] === '+') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw invalid();
  let total = 0n;
  let i = 0;
  while (i < s.length) {
    if (!(s[i] === '.' || isDigit(s[i]))) throw invalid();
    // [0-9]*
    const intStart = i;
    let v = 0n;
    while (isDigit(s[i])) {
      if (v > LIMIT / 10n) throw invalid();
      v = v * 10n + BigInt(s.charCodeAt(i) - 48);
      if (v > LIMIT) throw invalid();
      i++;
    }
    const pre = i > intStart;
    // (\.[0-9]*)?  — digits past uint64 precision are dropped, as Go's leadingFraction does.
    let f = 0n;
    let scale = 1;
    let post = false;
    if (s[i] === '.') {
      i++;
      const fracStart = i;
      let overflow = false;
      while (isDigit(s[i])) {
        if (!overflow) {
          const y = f * 10n + BigInt(s.charCodeAt(i) - 48);
          if (f > (LIMIT - 1n) / 10n || y > LIMIT) overflow = true;
          else {
            f = y;
            scale *= 10;
          }
        }
        i++;
      }
      post = i > fracStart;
    }
    if (!pre && !post) throw invalid();
    // unit: everything up to the next digit or '.'
    const unitStart = i;
    while (i < s.length && s[i] !== '.' && !isDigit(s[i])) i++;
    if (i === unitStart) throw new Error(`time: missing unit in duration ${quote(input)}`);
    const u = s.slice(unitStart, i);
    const unit = UNITS.get(u);
    if (unit === undefined) throw new Error(`time: unknown unit ${quote(u)} in duration ${quote(input)}`);
    if (v > LIMIT / unit) throw invalid();
    v *= unit;
    if (f > 0n) {
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > LIMIT) throw invalid();
    }
    total += v;
    if (total > LIMIT) throw invalid();
  }
  if (neg) return -total;
  if (total > LIMIT - 1n) throw invalid();
  return total;
}

/**
 * Parses a Go duration string (`750ms`, `1m30s`, `1.5h`, `0`) into milliseconds.
 * Sub-millisecond parts are kept as a fraction (`1500us` → 1.5).
 * @throws Error quoting the bad input, e.g. `time: invalid duration "abc"`.
 */
export function parseDuration(input: string): number {
  return Number(parseDurationNs(input)) / 1e6;
}

/** Go's fmtFrac: the fractional digits of `v` at precision `prec`, trailing zeros omitted. */
function frac(v: bigint, prec: number): { text: string; rest: bigint } {
  let text = '';
  let print = false;
  for (let k = 0; k < prec; k++) {
    const digit = v % 10n;
    print = print || digit !== 0n;
    if (print) text = digit.toString() + text;
    v /= 10n;
  }
  return { text: print ? '.' + text : '', rest: v };
}

/** Formats integer nanoseconds exactly as Go's `Duration.String()` does. */
export function formatDurationNs(ns: bigint): string {
  const neg = ns < 0n;
  let u = neg ? -ns : ns;
  let out: string;
  if (u < S) {
    if (u === 0n) return '0s';
    let prec: number;
    let unit: string;
    if (u < US) {
      prec = 0;
      unit = 'ns';
    } else if (u < MS) {
      prec = 3;
      unit = '\u00b5s';
    } else {
      prec = 6;
      unit = 'ms';
    }
    const f = frac(u, prec);
    out = f.rest.toString() + f.text + unit;
  } else {
    const f = frac(u, 9);
    u = f.rest;
    out = (u % 60n).toString() + f.text + 's';
    u /= 60n;
    if (u > 0n) {
      out = (u % 60n).toString() + 'm' + out;
      u /= 60n;
      if (u > 0n) out = u.toString() + 'h' + out;
    }
  }
  return neg ? '-' + out : out;
}

/**
 * Formats milliseconds the way Go prints a `time.Duration`: `750ms`, `15s`, `1m0s`, `10m0s`,
 * `1h0m0s`, `1.5µs`. The value is rounded to whole nanoseconds first.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`formatDuration: not a finite number of milliseconds: ${ms}`);
  return formatDurationNs(BigInt(Math.round(ms * 1e6)));
}

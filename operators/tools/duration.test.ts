import { describe, expect, it } from 'vitest';
import { formatDuration, formatDurationNs, parseDuration, parseDurationNs } from './duration.js';

const us = 1000n;
const ms = 1000n * us;
const s = 1000n * ms;
const m = 60n * s;
const h = 60n * m;
const MAX = (1n << 63n) - 1n;
const MIN = -(1n << 63n);

describe('parseDurationNs (Go time.ParseDuration cases)', () => {
  const ok: [string, bigint][] = [
    ['0', 0n],
    ['5s', 5n * s],
    ['30s', 30n * s],
    ['1478s', 1478n * s],
    ['-5s', -5n * s],
    ['+5s', 5n * s],
    ['-0', 0n],
    ['+0', 0n],
    ['5.0s', 5n * s],
    ['5.6s', 5n * s + 600n * ms],
    ['5.s', 5n * s],
    ['.5s', 500n * ms],
    ['1.0s', s],
    ['1.00s', s],
    ['1.004s', s + 4n * ms],
    ['1.0040s', s + 4n * ms],
    ['100.00100s', 100n * s + ms],
    ['10ns', 10n],
    ['11us', 11n * us],
    ['12\u00b5s', 12n * us],
    ['12\u03bcs', 12n * us],
    ['13ms', 13n * ms],
    ['14s', 14n * s],
    ['15m', 15n * m],
    ['16h', 16n * h],
    ['3h30m', 3n * h + 30n * m],
    ['10.5s4m', 4n * m + 10n * s + 500n * ms],
    ['-2m3.4s', -(2n * m + 3n * s + 400n * ms)],
    ['1h2m3s4ms5us6ns', h + 2n * m + 3n * s + 4n * ms + 5n * us + 6n],
    ['39h9m14.425s', 39n * h + 9n * m + 14n * s + 425n * ms],
    ['52763797000ns', 52763797000n],
    ['0.3333333333333333333h', 20n * m],
    ['9007199254740993ns', (1n << 53n) + 1n],
    ['9223372036854775807ns', MAX],
    ['9223372036854775.807us', MAX],
    ['9223372036s854ms775us807ns', MAX],
    ['-9223372036854775808ns', MIN],
    ['-9223372036854775.808us', MIN],
    ['-9223372036s854ms775us808ns', MIN],
    ['-2562047h47m16.854775808s', MIN],
    ['0.100000000000000000000h', 6n * m],
    ['0.830103483285477580700h', 49n * m + 48n * s + 372539827n],
  ];
  it.each(ok)('%s', (input, want) => expect(parseDurationNs(input)).toBe(want));

  const bad = [
    '',
    '3',
    '-',
    's',
    '.',
    '-.',
    '.s',
    '+.s',
    '1d',
    '\x85\x85',
    '\xffff',
    'hello \xffff world',
    '9223372036854775810ns',
    '9223372036854775808ns',
    '-9223372036854775809ns',
    '9223372036854776us',
    '3000000h',
    '9223372036854775.808us',
    '9223372036854ms775us808ns',
    '1 s',
  ];
  it.each(bad)('rejects %j', (input) => expect(() => parseDurationNs(input)).toThrow(JSON.stringify(input)));

  it('uses Go error texts', () => {
    expect(() => parseDuration('abc')).toThrow('time: invalid duration "abc"');
    expect(() => parseDuration('3')).toThrow('time: missing unit in duration "3"');
    expect(() => parseDuration('1d')).toThrow('time: unknown unit "d" in duration "1d"');
  });
});

describe('parseDuration (milliseconds)', () => {
  it.each([
    ['750ms', 750],
    ['15s', 15_000],
    ['1m', 60_000],
    ['10m', 600_000],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['24h', 86_400_000],
    ['200ms', 200],
    ['1500us', 1.5],
    ['-2s', -2000],
    ['0', 0],
  ] as const)('%s = %d ms', (input, want) => expect(parseDuration(input)).toBe(want));
});

describe('formatDuration', () => {
  it.each([
    [0n, '0s'],
    [1n, '1ns'],
    [1100n, '1.1\u00b5s'],
    [2200n * us, '2.2ms'],
    [3300n * ms, '3.3s'],
    [4n * m + 5n * s, '4m5s'],
    [4n * m + 5001n * ms, '4m5.001s'],
    [5n * h + 6n * m + 7001n * ms, '5h6m7.001s'],
    [8n * m + 1n, '8m0.000000001s'],
    [MAX, '2562047h47m16.854775807s'],
    [MIN, '-2562047h47m16.854775808s'],
  ] as const)('Go Duration.String(%s) = %s', (ns, want) => expect(formatDurationNs(ns)).toBe(want));

  it.each([
    [750, '750ms'],
    [600_000, '10m0s'],
    [60_000, '1m0s'],
    [15_000, '15s'],
    [3_600_000, '1h0m0s'],
    [1.5, '1.5ms'],
    [0.0015, '1.5\u00b5s'],
    [-90_000, '-1m30s'],
  ] as const)('%d ms → %s', (input, want) => expect(formatDuration(input)).toBe(want));

  it('round-trips', () => {
    for (const text of ['750ms', '10m0s', '1h0m0s', '1m30s', '15s', '1.5ms'])
      expect(formatDuration(parseDuration(text))).toBe(text);
  });

  it('rejects non-finite input', () => expect(() => formatDuration(Number.NaN)).toThrow(RangeError));
});

/**
 * Typed `NSM_*` environment configuration, with the semantics of Go's kelseyhightower/envconfig
 * as the upstream cmd-* binaries use it, so one deployment's environment configures either
 * implementation the same way:
 *
 * - a variable that is set (even to "") is parsed; an unset variable takes its default; an unset
 *   variable without a default gets its kind's zero value ('' / 0 / false / [] / {}), or is
 *   reported as required when the kind has no zero (url, enum, json);
 * - defaults are strings parsed by the same parser as values, so help text shows them exactly
 *   as the upstream `default:"…"` tags do;
 * - lists are comma-separated, maps are `k1:v1,k2:v2`, durations use Go syntax.
 *
 * Deliberate leniencies (every value upstream accepts means the same here): list items and map
 * keys/values are trimmed and empty list items dropped; a map pair is split on its first ':'
 * (envconfig rejects a value containing a second ':').
 *
 * A component declares a spec object of variables; `loadConfig` returns an object typed from
 * that spec and reports every bad variable at once, not just the first.
 */

import { parseDuration } from '../../operators/tools/duration.js';
import { type Level, parseLevel } from '../../operators/tools/log.js';
import { parseListenOn } from '../../streams/metrics/prometheusServer.js';
import { type NsmUrl, NSM_URL_FORMS, parseNsmUrl } from '../../operators/tools/nsmUrl.js';

export type { NsmUrl } from '../../operators/tools/nsmUrl.js';

/** The environment: `process.env` or a plain object in tests. */
export type Env = Readonly<Record<string, string | undefined>>;

/** One environment variable: its name, default, documentation and parser. */
export interface Var<T> {
  /** Full variable name, e.g. `NSM_DIAL_TIMEOUT` (unprefixed names such as `TELEMETRY` are allowed). */
  readonly env: string;
  /** The default as upstream writes it ('' = none). */
  readonly def: string;
  readonly description: string;
  /** Short type name for help text: `duration`, `url list`, `polite|strict`… */
  readonly kind: string;
  /** The expected form, completing "expected …" in error messages. */
  readonly expected: string;
  /** Parses a raw value; throws (preferably InvalidValue) when it is not of the expected form. */
  readonly parse: (raw: string) => T;
  /** Value when unset and without default; undefined means the variable is required then. */
  readonly zero: (() => T) | undefined;
}

/** A component's configuration: field name → variable. */
export type Spec = Readonly<Record<string, Var<unknown>>>;

/** The typed result of loading a spec. */
export type ConfigOf<S extends Spec> = { readonly [K in keyof S]: S[K] extends Var<infer T> ? T : never };

/** Thrown by parsers: the value does not have the expected form; `detail` adds what was wrong. */
export class InvalidValue extends Error {
  constructor(readonly detail?: string) {
    super(detail ?? 'invalid value');
    this.name = 'InvalidValue';
  }
}

export interface ConfigProblem {
  readonly env: string;
  /** The offending raw value; undefined when a required variable is missing. */
  readonly value: string | undefined;
  readonly expected: string;
  readonly detail?: string;
  /** e.g. `NSM_DIAL_TIMEOUT="abc": expected a Go duration such as 750ms, 15s or 1m` */
  readonly message: string;
}

/** All problems of one loadConfig call; the message has one line per problem. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(problems.map((p) => p.message).join('\n'));
    this.name = 'ConfigError';
  }
}

const q = (s: string): string => JSON.stringify(s);

function problem(v: Var<unknown>, value: string | undefined, e: unknown, isDefault = false): ConfigProblem {
  let detail: string | undefined;
  if (e instanceof InvalidValue) detail = e.detail;
  else if (e instanceof Error) detail = e.message;
  let message =
    value === undefined
      ? `${v.env} is required: expected ${v.expected}`
      : `${v.env}=${q(value)}${isDefault ? ' (built-in default)' : ''}: expected ${v.expected}`;
  if (detail) message += ` (${detail})`;
  return detail ? { env: v.env, value, expected: v.expected, detail, message } : { env: v.env, value, expected: v.expected, message };
}

/**
 * Reads every variable of `spec` from `env`.
 * @throws ConfigError listing every bad or missing variable.
 */
export function loadConfig<S extends Spec>(spec: S, env: Env): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  for (const key of Object.keys(spec)) {
    const v = spec[key];
    if (!v) continue;
    const raw = env[v.env];
    const value = raw ?? (v.def !== '' ? v.def : undefined);
    if (value === undefined) {
      if (v.zero) out[key] = v.zero();
      else problems.push(problem(v, undefined, undefined));
      continue;
    }
    try {
      out[key] = v.parse(value);
    } catch (e) {
      problems.push(problem(v, value, e, raw === undefined));
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as ConfigOf<S>;
}

/**
 * `prefix*` variables in `env` that `spec` does not declare: almost always a typo
 * (`NSM_LISTEN_ONN`), which envconfig silently ignores.
 */
export function unknownVariables(spec: Spec, env: Env, prefix = 'NSM_'): string[] {
  const known = new Set(Object.values(spec).map((v) => v.env));
  return Object.keys(env)
    .filter((k) => k.startsWith(prefix) && !known.has(k))
    .sort();
}

// ---------------------------------------------------------------------------------------------
// Kinds

/** Declares a variable of a custom kind (e.g. NSM_CIDR_PREFIX groups, NSM_AWARENESS_GROUPS). */
export function variable<T>(v: {
  env: string;
  def: string;
  description: string;
  kind: string;
  expected: string;
  parse: (raw: string) => T;
  zero?: () => T;
}): Var<T> {
  return { ...v, zero: v.zero };
}

export function str(env: string, def: string, description: string): Var<string> {
  return variable({ env, def, description, kind: 'string', expected: 'a string', parse: (s) => s, zero: () => '' });
}

const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Go strconv.ParseBool: exactly 1 t T TRUE true True / 0 f F FALSE false False. */
export function parseGoBool(s: string): boolean {
  if (TRUE.has(s)) return true;
  if (FALSE.has(s)) return false;
  throw new InvalidValue();
}

export function bool(env: string, def: string, description: string): Var<boolean> {
  return variable({ env, def, description, kind: 'bool', expected: 'true or false', parse: parseGoBool, zero: () => false });
}

/** Go's underscoreOK: '_' only between digits, or between a base prefix and a digit. */
function underscoreOk(body: string): boolean {
  let saw = '^';
  let i = 0;
  const hex = /^0[xX]/.test(body);
  if (/^0[xXoObB]/.test(body)) {
    i = 2;
    saw = '0';
  }
  for (; i < body.length; i++) {
    const c = body.charAt(i);
    if ((c >= '0' && c <= '9') || (hex && /[a-fA-F]/.test(c))) saw = '0';
    else if (c === '_') {
      if (saw !== '0') return false;
      saw = '_';
    } else {
      if (saw === '_') return false;
      saw = '!';
    }
  }
  return saw !== '_';
}

/**
 * Go strconv.ParseInt(s, 0, 64) syntax, as envconfig uses it: optional sign, decimal, 0x/0o/0b
 * prefixes, legacy leading-0 octal, '_' between digits. Returns a bigint so callers range-check.
 */
export function parseGoInt(s: string): bigint {
  const neg = s.startsWith('-');
  let body = s.startsWith('-') || s.startsWith('+') ? s.slice(1) : s;
  if (body.includes('_')) {
    if (!underscoreOk(body)) throw new InvalidValue();
    body = body.replace(/_/g, '');
  }
  let digits: RegExp;
  let prefix = '';
  if (/^0[xX]/.test(body)) [digits, prefix, body] = [/^[0-9a-fA-F]+$/, '0x', body.slice(2)];
  else if (/^0[oO]/.test(body)) [digits, prefix, body] = [/^[0-7]+$/, '0o', body.slice(2)];
  else if (/^0[bB]/.test(body)) [digits, prefix, body] = [/^[01]+$/, '0b', body.slice(2)];
  else if (/^0./.test(body)) [digits, prefix, body] = [/^[0-7]+$/, '0o', body.slice(1)];
  else digits = /^[0-9]+$/;
  if (!digits.test(body)) throw new InvalidValue();
  const n = BigInt(prefix + body);
  return neg ? -n : n;
}

export interface IntRange {
  readonly min?: number;
  readonly max?: number;
}

function intVar(env: string, def: string, description: string, kind: string, min: number, max: number): Var<number> {
  const expected =
    min === Number.MIN_SAFE_INTEGER && max === Number.MAX_SAFE_INTEGER
      ? 'an integer'
      : max === Number.MAX_SAFE_INTEGER
        ? `an integer of at least ${min}`
        : `an integer from ${min} to ${max}`;
  const parse = (s: string): number => {
    const n = parseGoInt(s);
    if (n < BigInt(min) || n > BigInt(max)) throw new InvalidValue('out of range');
    return Number(n);
  };
  return variable({ env, def, description, kind, expected, parse, zero: () => 0 });
}

export function int(env: string, def: string, description: string, range: IntRange = {}): Var<number> {
  return intVar(env, def, description, 'int', range.min ?? Number.MIN_SAFE_INTEGER, range.max ?? Number.MAX_SAFE_INTEGER);
}

export function uint(env: string, def: string, description: string, range: IntRange = {}): Var<number> {
  return intVar(env, def, description, 'uint', Math.max(0, range.min ?? 0), range.max ?? Number.MAX_SAFE_INTEGER);
}

/** A Go duration, as milliseconds (fractions allowed). */
export function duration(env: string, def: string, description: string): Var<number> {
  return variable({
    env,
    def,
    description,
    kind: 'duration',
    expected: 'a Go duration such as 750ms, 15s or 1m',
    parse: (s) => {
      try {
        return parseDuration(s);
      } catch {
        throw new InvalidValue();
      }
    },
    zero: () => 0,
  });
}

/** Splits a comma-separated list: items trimmed, empty items dropped, '' → []. */
export function splitList(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

export function list(env: string, def: string, description: string): Var<string[]> {
  return variable({ env, def, description, kind: 'list', expected: 'a comma-separated list', parse: splitList, zero: () => [] });
}

/** `k1:v1,k2:v2` → `{k1: 'v1', k2: 'v2'}`; each pair split on its first ':'. */
export function parseMap(s: string): Record<string, string> {
  const entries: [string, string][] = [];
  for (const pair of splitList(s)) {
    const i = pair.indexOf(':');
    if (i < 0) throw new InvalidValue(`item ${q(pair)} has no ':'`);
    entries.push([pair.slice(0, i).trim(), pair.slice(i + 1).trim()]);
  }
  // fromEntries defines own properties, so a "__proto__" key is data, not a prototype change.
  return Object.fromEntries(entries);
}

export function map(env: string, def: string, description: string): Var<Record<string, string>> {
  return variable({ env, def, description, kind: 'map', expected: 'key:value pairs separated by commas, e.g. k1:v1,k2:v2', parse: parseMap, zero: () => ({}) });
}

const urlParse = (s: string): NsmUrl => {
  try {
    return parseNsmUrl(s);
  } catch (e) {
    throw new InvalidValue(e instanceof Error ? e.message.replace(/^"[^"]*": /, '') : undefined);
  }
};

/** An endpoint URL (see NsmUrl); required when unset without default unless wrapped in optional(). */
export function url(env: string, def: string, description: string): Var<NsmUrl> {
  return variable({ env, def, description, kind: 'url', expected: NSM_URL_FORMS, parse: urlParse });
}

export function urlList(env: string, def: string, description: string): Var<NsmUrl[]> {
  return variable({
    env,
    def,
    description,
    kind: 'url list',
    expected: `a comma-separated list of ${NSM_URL_FORMS}`,
    parse: (s) =>
      splitList(s).map((item) => {
        try {
          return parseNsmUrl(item);
        } catch {
          throw new InvalidValue(`item ${q(item)}`);
        }
      }),
    zero: () => [],
  });
}

export interface OneOfOptions {
  /** Accept any letter case and return the canonical spelling (as listed). */
  readonly caseInsensitive?: boolean;
}

/** One of a fixed set of strings, typed as their union. */
export function oneOf<const V extends readonly [string, ...string[]]>(
  env: string,
  values: V,
  def: string,
  description: string,
  opts: OneOfOptions = {},
): Var<V[number]> {
  const key = (s: string): string => (opts.caseInsensitive ? s.toLowerCase() : s);
  const byKey = new Map<string, V[number]>(values.map((v) => [key(v), v]));
  return variable({
    env,
    def,
    description,
    kind: values.join('|'),
    expected: `one of ${values.join(', ')}`,
    parse: (s) => {
      const v = byKey.get(key(s.trim()));
      if (v === undefined) throw new InvalidValue();
      return v;
    },
  });
}

/** A logrus level name, any case (`warning` = WARN, `panic` = FATAL), like NSM_LOG_LEVEL. */
export function logLevel(env = 'NSM_LOG_LEVEL', def = 'INFO', description = 'Log level: TRACE, DEBUG, INFO, WARN, ERROR or FATAL'): Var<Level> {
  return variable({
    env,
    def,
    description,
    kind: 'level',
    expected: 'one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL',
    parse: (s) => {
      try {
        return parseLevel(s);
      } catch {
        throw new InvalidValue();
      }
    },
  });
}

/**
 * A JSON value (e.g. NSM_DNS_CONFIGS, a JSON array). `check` turns the parsed `unknown` into the
 * typed value and throws (its message becomes the detail) when the shape is wrong.
 */
export function json<T>(env: string, def: string, description: string, check: (v: unknown) => T, expected = 'JSON'): Var<T> {
  return variable({
    env,
    def,
    description,
    kind: 'json',
    expected,
    parse: (s) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(s);
      } catch (e) {
        throw new InvalidValue(e instanceof Error ? e.message : undefined);
      }
      return check(parsed);
    },
  });
}

/**
 * Makes a variable optional: unset or set to "" gives undefined (upstream: an empty url.URL /
 * zero value checked with `!= ""`). Use with a '' default.
 */
export function optional<T>(v: Var<T>): Var<T | undefined> {
  return { ...v, parse: (s) => (s.trim() === '' ? undefined : v.parse(s)), zero: () => undefined };
}

/**
 * A variable upstream's matching cmd declares that nsm-rx does not implement (VPP's socket,
 * SR-IOV paths, …): unset, or set to upstream's default `def`, it is accepted and means nothing;
 * any other value stops the start (exit 2) with the variable's name and `why`, so a deployment
 * copied from upstream never runs with a setting silently ignored.
 */
export function unsupported(env: string, def: string, why: string): Var<undefined> {
  return variable({
    env,
    def,
    description: `Not supported: ${why}`,
    kind: 'unsupported',
    expected: def === '' ? 'it unset or empty' : `it unset or ${q(def)} (upstream's default)`,
    parse: (s) => {
      if (s.trim() !== def) throw new InvalidValue(`not supported by nsm-rx: ${why}`);
      return undefined;
    },
    zero: () => undefined,
  });
}

// ---------------------------------------------------------------------------------------------
// Shared variables and help

/** A listen address `host:port` (`:8081`: every address). */
function hostPort(env: string, def: string, description: string): Var<string> {
  return variable({
    env,
    def,
    description,
    kind: 'host:port',
    expected: 'host:port (e.g. :8081 or 127.0.0.1:8081)',
    parse: (s) => {
      try {
        parseListenOn(s, env);
      } catch {
        throw new InvalidValue();
      }
      return s;
    },
  });
}

/** The variables every upstream cmd-* binary reads, with upstream defaults. */
export const commonSpec = {
  logLevel: logLevel(),
  logFormat: oneOf('NSM_LOG_FORMAT', ['auto', 'json', 'text'], 'auto', 'Log lines: json (for collectors), text (for people), auto: text on a terminal, else json'),
  openTelemetryEndpoint: str(
    'NSM_OPEN_TELEMETRY_ENDPOINT',
    'otel-collector.observability.svc.cluster.local:4317',
    'OpenTelemetry collector endpoint (used when TELEMETRY=true)',
  ),
  telemetry: bool('TELEMETRY', 'false', 'Export spans of every gRPC call and the metrics over OTLP/gRPC to NSM_OPEN_TELEMETRY_ENDPOINT (upstream: OpenTelemetry on)'),
  metricsExportInterval: duration('NSM_METRICS_EXPORT_INTERVAL', '10s', 'Interval between metrics exports'),
  pprofEnabled: bool('NSM_PPROF_ENABLED', 'false', 'Serve CPU profiles and heap snapshots (Node inspector) on NSM_PPROF_LISTEN_ON'),
  pprofListenOn: hostPort('NSM_PPROF_LISTEN_ON', 'localhost:6060', 'host:port of the profiling endpoint (plain HTTP, as upstream: keep it on localhost)'),
  // Upstream's sdk tools/prometheus (declared by cmd-forwarder-vpp); every nsm-rx daemon serves it.
  prometheus: bool('PROMETHEUS', 'false', 'Serve Prometheus metrics at /metrics on NSM_PROMETHEUS_LISTEN_ON'),
  prometheusListenOn: hostPort('NSM_PROMETHEUS_LISTEN_ON', ':8081', 'host:port of the Prometheus endpoint (HTTPS, TLS 1.3; plain HTTP with NSM_INSECURE)'),
  prometheusCaFile: str('NSM_PROMETHEUS_CA_FILE', '', 'CA bundle (PEM): scrapers must present a certificate it signed'),
  prometheusKeyFile: str('NSM_PROMETHEUS_KEY_FILE', '', 'Private key (PEM) of the endpoint; with NSM_PROMETHEUS_CERT_FILE, instead of the SVID'),
  prometheusCertFile: str('NSM_PROMETHEUS_CERT_FILE', '', 'Certificate chain (PEM) of the endpoint; with NSM_PROMETHEUS_KEY_FILE, instead of the SVID'),
  prometheusMonitorCertificate: bool('NSM_PROMETHEUS_MONITOR_CERTIFICATE', 'false', 'Reload the certificate and key files when they change'),
  prometheusServerHeaderTimeout: duration('NSM_PROMETHEUS_SERVER_HEADER_TIMEOUT', '5s', 'How long a scrape may take to send its headers'),
  prometheusMaxBindThreshold: duration('NSM_PROMETHEUS_MAX_BIND_THRESHOLD', '120s', 'How long a busy listen address is tried again before giving up'),
} as const;

export type CommonConfig = ConfigOf<typeof commonSpec>;

function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}

/** The `nsm-rx <component> --help` text: summary and a table of every variable. */
export function helpText(componentName: string, summary: string, spec: Spec): string {
  const rows: string[][] = [['VARIABLE', 'TYPE', 'DEFAULT', 'DESCRIPTION']];
  for (const v of Object.values(spec)) {
    const def = v.def !== '' ? v.def : v.zero ? '-' : '(required)';
    rows.push([v.env, v.kind, def, v.description]);
  }
  return [
    `nsm-rx ${componentName}: ${summary}`,
    '',
    `Usage: nsm-rx ${componentName}`,
    '',
    'Configured by environment variables (lists: a,b; maps: k1:v1,k2:v2; durations: Go syntax):',
    '',
    ...table(rows).map((l) => '  ' + l),
    '',
  ].join('\n');
}

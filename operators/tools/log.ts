/**
 * A tiny JSON-lines logger: one JSON object per line on stderr,
 * `{"time":"…","level":"info","msg":"…","component":"nsmgr",…fields}` — or, for a person at a
 * terminal, one readable line: `15:04:05.123 INFO  nsmgr: serving  urls=[…]`.
 *
 * Why not a library: daemons log on hot paths (every Request), so the only cost paid for a
 * disabled level must be one integer comparison, and the output must be machine-readable for
 * the log collectors that already parse logrus' JSON formatter (hence lower-case level names in
 * the output, and clashing field names moved to `fields.<name>` as logrus does).
 *
 * Levels are the logrus ones used by `NSM_LOG_LEVEL`. The level is shared by a logger and all
 * its `with()` children, so SIGUSR1/SIGUSR2 (upstream: TRACE / restore) can flip a whole process.
 * `fatal()` only logs; ending the process is the caller's decision (the CLI's lifecycle).
 */

export const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;
export type Level = (typeof LEVELS)[number];

/** Upstream default of `NSM_LOG_LEVEL`. */
export const DEFAULT_LEVEL: Level = 'INFO';

export type Fields = Readonly<Record<string, unknown>>;

export interface Logger {
  readonly component: string;
  /** True when a record at `level` would be written: guard expensive field building with it. */
  enabled(level: Level): boolean;
  trace(msg: string, fields?: Fields): void;
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  fatal(msg: string, fields?: Fields): void;
  /** A child logger adding `fields` to every record; it shares this logger's level. */
  with(fields: Fields): Logger;
  /** The current level (shared with parent and children). */
  getLevel(): Level;
  /** Changes the level of this logger, its parent and all its children. */
  setLevel(level: Level): void;
}

/** `json`: one JSON object a line, for collectors; `text`: one readable line for people (a terminal). */
export type LogFormat = 'json' | 'text';

export interface LoggerOptions {
  /** Receives each complete line including the trailing newline. Default: process.stderr. */
  readonly write?: (line: string) => void;
  /** Default `json`. */
  readonly format?: LogFormat;
  /** Clock for the `time` field (tests). Default: `new Date()`. */
  readonly now?: () => Date;
}

/**
 * Parses a level name as logrus.ParseLevel does: case-insensitive, `warning` = WARN,
 * and `panic` (logrus' highest level) mapped to FATAL, the highest level here.
 * @throws Error naming the bad value.
 */
export function parseLevel(name: string): Level {
  const n = name.trim().toUpperCase();
  if (n === 'WARNING') return 'WARN';
  if (n === 'PANIC') return 'FATAL';
  if ((LEVELS as readonly string[]).includes(n)) return n as Level;
  throw new Error(`not a valid log level: ${JSON.stringify(name)}`);
}

const RANK: Readonly<Record<Level, number>> = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4, FATAL: 5 };
const OUT_NAME: Readonly<Record<Level, string>> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warning',
  ERROR: 'error',
  FATAL: 'fatal',
};
const RESERVED = new Set(['time', 'level', 'msg', 'component']);

/** JSON.stringify replacer: Errors as their message/stack, bigints as strings, Maps/Sets as JSON. */
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { message: value.message };
    if (value.name !== 'Error') out['name'] = value.name;
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out['code'] = code;
    if (value.stack !== undefined) out['stack'] = value.stack;
    return out;
  }
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

interface Shared {
  rank: number;
  readonly format: LogFormat;
  readonly write: (line: string) => void;
  readonly now: () => Date;
}

class JsonLogger implements Logger {
  constructor(
    readonly component: string,
    private readonly shared: Shared,
    private readonly fields: Fields | undefined,
  ) {}

  enabled(level: Level): boolean {
    return RANK[level] >= this.shared.rank;
  }
  trace(msg: string, fields?: Fields): void {
    if (this.shared.rank <= 0) this.emit('TRACE', msg, fields);
  }
  debug(msg: string, fields?: Fields): void {
    if (this.shared.rank <= 1) this.emit('DEBUG', msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    if (this.shared.rank <= 2) this.emit('INFO', msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    if (this.shared.rank <= 3) this.emit('WARN', msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    if (this.shared.rank <= 4) this.emit('ERROR', msg, fields);
  }
  fatal(msg: string, fields?: Fields): void {
    this.emit('FATAL', msg, fields);
  }
  with(fields: Fields): Logger {
    return new JsonLogger(this.component, this.shared, this.fields ? { ...this.fields, ...fields } : fields);
  }
  getLevel(): Level {
    return LEVELS[this.shared.rank] ?? DEFAULT_LEVEL;
  }
  setLevel(level: Level): void {
    this.shared.rank = RANK[level];
  }

  private emit(level: Level, msg: string, fields: Fields | undefined): void {
    const rec: Record<string, unknown> = {
      time: this.shared.now().toISOString(),
      level: OUT_NAME[level],
      msg,
      component: this.component,
    };
    if (this.fields) addFields(rec, this.fields);
    if (fields) addFields(rec, fields);
    if (this.shared.format === 'text') return this.shared.write(textLine(level, rec));
    let line: string;
    try {
      line = JSON.stringify(rec, replacer);
    } catch (e) {
      // A circular or throwing field must never take the daemon down: keep the message, drop fields.
      line = JSON.stringify({
        time: rec['time'],
        level: rec['level'],
        msg,
        component: this.component,
        logError: `fields not serialisable: ${String(e)}`,
      });
    }
    this.shared.write(line + '\n');
  }
}

/** ANSI colours of the levels that ask for attention. */
const COLOUR: Partial<Record<Level, string>> = { WARN: '\x1b[33m', ERROR: '\x1b[31m', FATAL: '\x1b[1;31m' };

/** A field's value as text: bare when it is a plain word, else as JSON (errors by their message). */
function fieldText(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  try {
    return JSON.stringify(value, replacer) ?? String(value);
  } catch {
    return String(value);
  }
}

/** `15:04:05.123 INFO  nsmgr: serving  urls=[…] registry=in-process`, the level coloured when it asks for attention. */
function textLine(level: Level, rec: Readonly<Record<string, unknown>>): string {
  const time = String(rec['time']).slice(11, 23);
  const name = level.padEnd(5);
  const shown = COLOUR[level] ? `${COLOUR[level]}${name}\x1b[0m` : name;
  const extra = Object.entries(rec)
    .filter(([k]) => !RESERVED.has(k))
    .map(([k, v]) => `${k}=${fieldText(v)}`)
    .join(' ');
  return `${time} ${shown} ${String(rec['component'])}: ${String(rec['msg'])}${extra ? `  ${extra}` : ''}\n`;
}

function addFields(rec: Record<string, unknown>, fields: Fields): void {
  for (const k of Object.keys(fields)) rec[RESERVED.has(k) ? `fields.${k}` : k] = fields[k];
}

/**
 * Creates a logger writing lines for `component`: JSON (default) or, with `format: 'text'`, readable ones.
 * @param level a Level or any name parseLevel accepts; default INFO.
 */
export function createLogger(component: string, level: Level | string = DEFAULT_LEVEL, opts: LoggerOptions = {}): Logger {
  const shared: Shared = {
    rank: RANK[parseLevel(level)],
    format: opts.format ?? 'json',
    write: opts.write ?? ((line) => void process.stderr.write(line)),
    now: opts.now ?? (() => new Date()),
  };
  return new JsonLogger(component, shared, undefined);
}

class SilentLogger implements Logger {
  readonly component = 'silent';
  enabled(): boolean {
    return false;
  }
  trace(): void {}
  debug(): void {}
  info(): void {}
  warn(): void {}
  error(): void {}
  fatal(): void {}
  with(): Logger {
    return this;
  }
  getLevel(): Level {
    return 'FATAL';
  }
  setLevel(): void {}
}

/** A logger that writes nothing: for tests and for components embedded in other processes. */
export const silentLogger: Logger = new SilentLogger();

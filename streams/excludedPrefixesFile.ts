import { watch } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { asyncScheduler, defer, EMPTY, from, merge, Observable, of, type SchedulerLike } from 'rxjs';
import { catchError, debounceTime, distinctUntilChanged, filter, map, switchMap } from 'rxjs/operators';
import { tryParseCidr } from '../operators/tools/cidr.js';

/** Where nsmgr reads excluded prefixes (upstream excludedprefixes.PrefixesFilePathDefault). */
export const EXCLUDED_PREFIXES_FILE = '/var/lib/networkservicemesh/config/excluded_prefixes.yaml';

// ---------------------------------------------------------------------------------------------
// The YAML subset

/** A YAML error with the 1-based line it is about. */
export class YamlSubsetError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'YamlSubsetError';
  }
}

/** Strips a comment: `#` at the start or after whitespace, outside quotes. */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote !== undefined) {
      if (ch === '\\' && quote === '"') i++;
      else if (ch === quote) {
        if (quote === "'" && line[i + 1] === "'") i++;
        else quote = undefined;
      }
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '#' && (i === 0 || line[i - 1] === ' ' || line[i - 1] === '\t')) return line.slice(0, i);
  }
  return line;
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', '/': '/', '0': '\0', ' ': ' ' };

/** The body of a quoted scalar that must span all of `s`, unescaped; undefined if `s` is not one whole quoted string. */
function quoted(s: string, lineNo: number): string | undefined {
  const q = s[0];
  let out = '';
  for (let i = 1; i < s.length; i++) {
    const ch = s[i] as string;
    if (q === "'" && ch === "'") {
      if (s[i + 1] === "'") {
        out += "'";
        i++;
        continue;
      }
      return i === s.length - 1 ? out : undefined;
    }
    if (q === '"' && ch === '"') return i === s.length - 1 ? out : undefined;
    if (q === '"' && ch === '\\') {
      const c = s[i + 1] ?? '';
      const e = ESCAPES[c];
      if (e === undefined) throw new YamlSubsetError(lineNo, `unsupported escape \\${c}`);
      out += e;
      i++;
      continue;
    }
    out += ch;
  }
  throw new YamlSubsetError(lineNo, `unterminated quoted string ${s}`);
}

/** One scalar: plain, 'single' or "double" quoted. `null`/`~`/empty → null. */
function scalar(raw: string, lineNo: number): string | null {
  const s = raw.trim();
  if (s.startsWith("'") || s.startsWith('"')) {
    const v = quoted(s, lineNo);
    if (v === undefined) throw new YamlSubsetError(lineNo, `unexpected text after the quoted string in ${s}`);
    return v;
  }
  if (s === '' || s === '~' || s === 'null' || s === 'Null' || s === 'NULL') return null;
  if (/^[[\]{}&*!|>%@`]/.test(s) || /:(\s|$)/.test(s) || /^-(\s|$)/.test(s)) {
    throw new YamlSubsetError(lineNo, `expected a plain string, found ${JSON.stringify(s)}`);
  }
  return s;
}

/** `[a, 'b', "c"]` → strings. */
function flowSequence(s: string, lineNo: number): string[] {
  const body = s.trim();
  if (!body.endsWith(']')) throw new YamlSubsetError(lineNo, `unterminated flow sequence ${body}`);
  const inner = body.slice(1, -1).trim();
  if (inner === '') return [];
  const items: string[] = [];
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i <= inner.length; i++) {
    const ch = inner[i];
    if (quote !== undefined) {
      if (ch === '\\' && quote === '"') i++;
      else if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '[' || ch === '{') throw new YamlSubsetError(lineNo, 'nested collections are not supported here');
    else if (ch === ',' || ch === undefined) {
      const piece = inner.slice(start, i);
      start = i + 1;
      if (piece.trim() === '' && ch === undefined && items.length > 0) break; // trailing comma
      const v = scalar(piece, lineNo);
      if (v === null) throw new YamlSubsetError(lineNo, 'empty item in flow sequence');
      items.push(v);
    }
  }
  return items;
}

/**
 * Reads the list under `key` (any case, as Go's encoding/json matches struct fields) from the
 * YAML subset the excluded-prefixes file uses:
 *
 * ```yaml
 * Prefixes:
 * - 10.244.0.0/16
 * - "10.96.0.0/12"   # comments, quotes and a `---` start are fine
 * other: ignored
 * ```
 *
 * also `Prefixes: [a, b]`, `Prefixes: []`, `Prefixes:` (null) and an empty document. Other
 * top-level keys and what is nested under them are skipped. The last matching key wins.
 *
 * @throws YamlSubsetError (with the line) for what this subset cannot read: tabs in
 *   indentation, a non-string list item, a top level that is not a mapping, unterminated quotes.
 */
export function parseYamlStringList(text: string, key: string): string[] {
  const wanted = key.toLowerCase();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let result: string[] = [];
  let i = 0;
  const indentOf = (l: string) => l.length - l.trimStart().length;
  const meaningful = (idx: number) => {
    const l = stripComment(lines[idx] as string);
    return l.trim() === '' ? undefined : l;
  };
  // a leading document marker
  while (i < lines.length && meaningful(i) === undefined) i++;
  if (i < lines.length && /^---\s*$/.test(meaningful(i) as string)) i++;

  while (i < lines.length) {
    const lineNo = i + 1;
    const line = meaningful(i);
    i++;
    if (line === undefined) continue;
    if (/^\.\.\.\s*$/.test(line)) break;
    if (/^---\s*$/.test(line)) throw new YamlSubsetError(lineNo, 'only one document is supported');
    if (/^\t/.test(line)) throw new YamlSubsetError(lineNo, 'tabs are not allowed for indentation');
    if (indentOf(line) !== 0) throw new YamlSubsetError(lineNo, 'unexpected indentation at the top level');
    const m = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s:#'"][^:]*?)\s*:(?:\s+(.*))?$/.exec(line);
    if (!m) throw new YamlSubsetError(lineNo, `expected "key: value" at the top level, found ${JSON.stringify(line.trim())}`);
    const k = scalar(m[1] as string, lineNo) ?? '';
    const rest = (m[2] ?? '').trim();
    const isOurs = k.toLowerCase() === wanted;

    // The block under this key: more-indented lines, or "- " items at the key's indentation.
    const block: { lineNo: number; text: string }[] = [];
    while (i < lines.length) {
      const l = meaningful(i);
      if (l === undefined) {
        i++;
        continue;
      }
      if (/^\t/.test(l)) throw new YamlSubsetError(i + 1, 'tabs are not allowed for indentation');
      if (indentOf(l) === 0 && !/^-(\s|$)/.test(l)) break;
      block.push({ lineNo: i + 1, text: l });
      i++;
    }
    if (!isOurs) continue;

    if (rest !== '') {
      if (block.length > 0) throw new YamlSubsetError(block[0]!.lineNo, `unexpected content under "${k}: ${rest}"`);
      if (rest.startsWith('[')) result = flowSequence(rest, lineNo);
      else if (scalar(rest, lineNo) === null) result = [];
      else throw new YamlSubsetError(lineNo, `"${k}" must be a list of strings, found ${JSON.stringify(rest)}`);
      continue;
    }
    const items: string[] = [];
    let itemIndent: number | undefined;
    for (const { lineNo: n, text } of block) {
      const ind = indentOf(text);
      const item = /^-(?:\s+(.*))?$/.exec(text.trim());
      if (!item) throw new YamlSubsetError(n, `expected a "- item" of the "${k}" list, found ${JSON.stringify(text.trim())}`);
      itemIndent ??= ind;
      if (ind !== itemIndent) throw new YamlSubsetError(n, `list items of "${k}" must all have the same indentation`);
      const v = scalar(item[1] ?? '', n);
      if (v === null) throw new YamlSubsetError(n, `empty item in the "${k}" list`);
      items.push(v);
    }
    result = items;
  }
  return result;
}

/**
 * Parses the excluded-prefixes file: the `Prefixes` list (key in any case), each entry a CIDR.
 * An empty file is an empty list.
 *
 * @throws Error saying what is wrong (YAML line, or which entry is not a CIDR).
 */
export function parseExcludedPrefixes(text: string): string[] {
  const prefixes = parseYamlStringList(text, 'prefixes').map((p) => p.trim());
  const bad = prefixes.filter((p) => tryParseCidr(p) === undefined);
  if (bad.length > 0) throw new Error(`not CIDRs: ${bad.map((b) => JSON.stringify(b)).join(', ')}`);
  return prefixes;
}

// ---------------------------------------------------------------------------------------------
// The watched file

export interface ExcludedPrefixesFileOptions {
  /** Default `/var/lib/networkservicemesh/config/excluded_prefixes.yaml`. */
  path?: string;
  /** Times the debounce (default `asyncScheduler`). */
  scheduler?: SchedulerLike;
  /** Quiet time after a change before the file is read again, ms (default 100). */
  debounce?: number;
  /** Told about files that cannot be read or parsed, and a watch that fails; the stream goes on. */
  onError?: (err: Error) => void;
}

type Read = { ok: true; prefixes: string[] } | { ok: false };

const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The excluded-prefixes file as a stream of lists (upstream fs.WatchFile + the excludedprefixes
 * server's reader). On subscribe it creates the directory if missing (as upstream does),
 * watches it and emits the current list: the file's prefixes, or [] if there is no file. Then,
 * after any change in the directory has been quiet for `debounce` ms, it reads the file again
 * and emits the list if it differs from the last one emitted:
 *
 * - written in place, replaced by rename (atomic writers), removed and recreated, or swapped
 *   through a symlinked directory (ConfigMap volumes): whatever the event, the file is re-read;
 * - removed → [];
 * - unreadable or invalid (bad YAML, an entry that is not a CIDR) → nothing is emitted and the
 *   last good list stays; `onError` hears why. An invalid file at start emits [] (nothing good
 *   was seen yet, like upstream's empty pool).
 *
 * If the directory cannot be watched the stream emits the current list, reports, and completes.
 */
export function excludedPrefixesFile(options: ExcludedPrefixesFileOptions = {}): Observable<string[]> {
  const path = options.path ?? EXCLUDED_PREFIXES_FILE;
  const scheduler = options.scheduler ?? asyncScheduler;
  const quiet = options.debounce ?? 100;
  const report = (e: unknown) => options.onError?.(e instanceof Error ? e : new Error(String(e)));
  const dir = dirname(path);

  const read = async (initial: boolean): Promise<Read> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, prefixes: [] };
      report(new Error(`${path}: ${(e as Error).message}`));
      return initial ? { ok: true, prefixes: [] } : { ok: false };
    }
    try {
      return { ok: true, prefixes: parseExcludedPrefixes(text) };
    } catch (e) {
      report(new Error(`${path}: ${(e as Error).message}`));
      return initial ? { ok: true, prefixes: [] } : { ok: false };
    }
  };

  const changes = new Observable<void>((subscriber) => {
    const watcher = watch(dir, { persistent: true }, () => subscriber.next());
    watcher.on('error', (e) => subscriber.error(e));
    return () => watcher.close();
  });

  return defer(() => from(mkdir(dir, { recursive: true }).catch((e: unknown) => report(e)))).pipe(
    switchMap(() =>
      merge(
        of(true),
        // Every event counts: the file's own name, a temp file renamed onto it, a `..data`
        // symlink swap. In a busy directory that costs only a debounced re-read, compared.
        changes.pipe(
          catchError((e: unknown) => {
            report(new Error(`${dir}: cannot watch: ${(e as Error).message}`));
            return EMPTY;
          }),
          debounceTime(quiet, scheduler),
          map(() => false),
        ),
      ),
    ),
    // A newer change makes an older read moot.
    switchMap((initial) => from(read(initial))),
    filter((r): r is { ok: true; prefixes: string[] } => r.ok),
    map((r) => r.prefixes),
    distinctUntilChanged(sameList),
  );
}

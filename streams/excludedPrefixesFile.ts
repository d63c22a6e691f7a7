import type { Observable } from 'rxjs';
import { tryParseCidr } from '../operators/tools/cidr.js';
import { watchedFile, type WatchedFileOptions } from './watchedFile.js';
import { flowSequence, scalar, stripComment, YamlSubsetError } from './yaml.js';

export { YamlSubsetError } from './yaml.js';

/** Where nsmgr reads excluded prefixes (upstream excludedprefixes.PrefixesFilePathDefault). */
export const EXCLUDED_PREFIXES_FILE = '/var/lib/networkservicemesh/config/excluded_prefixes.yaml';

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

export interface ExcludedPrefixesFileOptions extends Omit<WatchedFileOptions<string[]>, 'path' | 'parse' | 'empty' | 'same'> {
  /** Default `/var/lib/networkservicemesh/config/excluded_prefixes.yaml`. */
  path?: string;
}

const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The excluded-prefixes file as a stream of lists (upstream fs.WatchFile + the excludedprefixes
 * server's reader), with `watchedFile`'s semantics: [] without a file, an invalid file (bad YAML,
 * an entry that is not a CIDR) keeps the last good list and is reported.
 */
export function excludedPrefixesFile(options: ExcludedPrefixesFileOptions = {}): Observable<string[]> {
  return watchedFile({ ...options, path: options.path ?? EXCLUDED_PREFIXES_FILE, parse: parseExcludedPrefixes, empty: [], same: sameList });
}

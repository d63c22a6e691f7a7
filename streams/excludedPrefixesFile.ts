import type { Observable } from 'rxjs';
import { tryParseCidr } from '../operators/tools/cidr.js';
import { watchedFile, type WatchedFileOptions } from './watchedFile.js';
import { parseYamlStringList } from './yaml.js';

export { parseYamlStringList, YamlError } from './yaml.js';

/** Where nsmgr reads excluded prefixes (upstream excludedprefixes.PrefixesFilePathDefault). */
export const EXCLUDED_PREFIXES_FILE = '/var/lib/networkservicemesh/config/excluded_prefixes.yaml';

/**
 * Parses the excluded-prefixes file: the `Prefixes` list (key in any case), each entry a CIDR,
 * as cmd-exclude-prefixes-k8s writes it:
 *
 * ```yaml
 * Prefixes:
 * - 10.244.0.0/16
 * - "10.96.0.0/12"
 * ```
 *
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

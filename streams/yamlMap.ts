import { parseYaml } from './yaml.js';

/**
 * A flat YAML map of strings (`key: value` lines), as cluster-info's config.yaml and map-ip's
 * file hold. Nested values and lists are not strings: they are dropped. Throws YamlError
 * on YAML that does not parse, and when the document is not a map.
 */
export function parseStringMap(text: string): Record<string, string> {
  const doc = parseYaml(text);
  if (doc === null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error('expected a map of "key: value" lines');
  return Object.fromEntries(Object.entries(doc).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** `key: value` lines, keys sorted; a key or value that plain YAML would misread is quoted. */
export function formatStringMap(map: Readonly<Record<string, string>>): string {
  const plain = (s: string) => (/^[A-Za-z0-9_./-][A-Za-z0-9_./:-]*$/.test(s) && !/:$/.test(s) && !/^(true|false|null|~|yes|no)$/i.test(s) ? s : JSON.stringify(s));
  return Object.keys(map)
    .sort()
    .map((k) => `${plain(k)}: ${plain(map[k] as string)}\n`)
    .join('');
}

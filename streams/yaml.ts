import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, visit, type Document, type Node } from 'yaml';

/** A YAML error with the 1-based line it is about. */
export class YamlError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'YamlError';
  }
}

/** A parsed node: scalars stay text (as Go's yaml.v2 gives a string field), null for empty, `~` and `null`. */
export type YamlValue = string | null | YamlValue[] | { [key: string]: YamlValue };

const NULLS = new Set(['', '~', 'null', 'Null', 'NULL']);

/** A parsed document and the line of any of its nodes. */
interface Parsed {
  /** None for a text of no document (empty, or comments only). */
  readonly doc: Document.Parsed | undefined;
  lineOf(node: Node | null | undefined): number;
}

/**
 * The first YAML document of `text` (the `yaml` package, YAML 1.2; later ones are ignored, as
 * Go's yaml.v2 Unmarshal ignores them) in the failsafe schema — every scalar text, as upstream's
 * Go readers take these files into string fields — with plain `~`, `null` and empty scalars
 * null. A syntax error or a duplicate key is a YamlError naming the line.
 */
function parsed(text: string): Parsed {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { schema: 'failsafe', lineCounter, prettyErrors: false });
  const doc = Array.isArray(docs) ? docs[0] : undefined;
  if (doc === undefined) return { doc, lineOf: () => 1 };
  const error = doc.errors[0];
  if (error) throw new YamlError(lineCounter.linePos(error.pos[0]).line, error.message);
  visit(doc, {
    Scalar(_, node) {
      if (node.type === 'PLAIN' && NULLS.has(node.source ?? '')) node.value = null;
    },
  });
  return { doc, lineOf: (node) => (node?.range ? lineCounter.linePos(node.range[0]).line : 1) };
}

/** Parses a YAML document into plain values (see `parsed`); an empty document is null. */
export function parseYaml(text: string): YamlValue {
  return (parsed(text).doc?.toJS() ?? null) as YamlValue;
}

/**
 * The list of strings under `key` (any case, as Go's readers match struct fields) of a YAML
 * mapping: `Prefixes:` then `- 10.0.0.0/8` items, or `[a, b]`. Absent, null, an empty list
 * and an empty document are []; the last matching key wins; other keys are not looked at.
 * @throws YamlError naming the line of what is not a mapping, a list, or a string item.
 */
export function parseYamlStringList(text: string, key: string): string[] {
  const { doc, lineOf } = parsed(text);
  const top = doc?.contents ?? null;
  if (top === null || (isScalar(top) && top.value === null)) return [];
  if (!isMap(top)) throw new YamlError(lineOf(top), 'expected "key: value" at the top level');
  const wanted = key.toLowerCase();
  const pair = top.items.filter((p) => isScalar(p.key) && String(p.key.value).toLowerCase() === wanted).at(-1);
  if (pair === undefined) return [];
  const name = String((pair.key as { value: unknown }).value);
  const value = pair.value as Node | null;
  if (value === null || (isScalar(value) && value.value === null)) return [];
  if (!isSeq(value)) throw new YamlError(lineOf(value), `"${name}" must be a list of strings`);
  return value.items.map((item) => {
    if (isScalar(item) && typeof item.value === 'string') return item.value;
    throw new YamlError(lineOf(item as Node), `items of "${name}" must be strings, found ${JSON.stringify(isScalar(item) ? item.value : (item as Node).toJSON())}`);
  });
}

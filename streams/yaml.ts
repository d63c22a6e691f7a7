/**
 * The small YAML subset nsm-rx's watched config files use (excluded prefixes, policy routes):
 * block mappings and sequences by indentation, plain and quoted scalars, flow sequences of
 * scalars and empty flow collections, comments, one document. What it cannot read is an error
 * naming the line — never a silently different value.
 */

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
export function stripComment(line: string): string {
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
export function scalar(raw: string, lineNo: number): string | null {
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
export function flowSequence(s: string, lineNo: number): string[] {
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

/** A parsed node: scalars stay strings (as yaml.v2 gives a string field the text), null for empty. */
export type YamlValue = string | null | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  readonly lineNo: number;
  readonly indent: number;
  readonly text: string;
}

// A plain key may hold ':' not followed by a space (an IPv6 address such as fd00::6, as map-ip writes).
const KEY = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|(?:[^\s:#'"[\]{},-]|[-:](?=\S))(?:[^:]|:(?=\S))*?)\s*:(?:\s+(.*))?$/;
const ITEM = /^-(?:\s+(.*))?$/;

/** A value written on the same line as its key or dash: a scalar or a flow collection. */
function inline(text: string, lineNo: number): YamlValue {
  const t = text.trim();
  if (t.startsWith('[')) return flowSequence(t, lineNo);
  if (/^\{\s*\}$/.test(t)) return {};
  if (t.startsWith('{')) throw new YamlSubsetError(lineNo, 'flow mappings ({…}) are not supported; write the mapping as indented "key: value" lines');
  return scalar(t, lineNo);
}

/**
 * Parses a document of the subset into plain values.
 * @throws YamlSubsetError (with the line) for tabs in indentation, inconsistent indentation,
 *   several documents, anchors, tags, block scalars or flow mappings.
 */
export function parseYaml(text: string): YamlValue {
  const lines: Line[] = [];
  const raw = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < raw.length; i++) {
    const l = stripComment(raw[i] as string).trimEnd();
    if (l.trim() === '') continue;
    if (/^\t/.test(l) || /^ *\t/.test(l)) throw new YamlSubsetError(i + 1, 'tabs are not allowed for indentation');
    if (/^---$/.test(l)) {
      if (lines.length > 0) throw new YamlSubsetError(i + 1, 'only one document is supported');
      continue;
    }
    if (/^\.\.\.$/.test(l)) break;
    lines.push({ lineNo: i + 1, indent: l.length - l.trimStart().length, text: l.trim() });
  }
  let at = 0;

  const node = (indent: number): YamlValue => {
    const line = lines[at];
    if (line === undefined || line.indent < indent) return null;
    if (ITEM.test(line.text)) return sequence(line.indent);
    if (KEY.test(line.text)) return mapping(line.indent);
    at++;
    const next = lines[at];
    if (next !== undefined && next.indent > line.indent) throw new YamlSubsetError(next.lineNo, 'multi-line scalars are not supported');
    return inline(line.text, line.lineNo);
  };

  /** The value after "key:" or "-" with nothing else on its line: a more-indented block (or, for a key, a sequence at the key's indentation). */
  const blockAfter = (indent: number, sequenceAtSameIndent: boolean): YamlValue => {
    const next = lines[at];
    if (next === undefined) return null;
    if (next.indent > indent || (sequenceAtSameIndent && next.indent === indent && ITEM.test(next.text))) return node(next.indent);
    return null;
  };

  const sequence = (indent: number): YamlValue[] => {
    const items: YamlValue[] = [];
    for (let line = lines[at]; line !== undefined && line.indent === indent && ITEM.test(line.text); line = lines[at]) {
      const rest = (ITEM.exec(line.text) as RegExpExecArray)[1] ?? '';
      if (rest === '') {
        at++;
        items.push(blockAfter(indent, false));
      } else if (ITEM.test(rest) || KEY.test(rest)) {
        // "- key: value" (or "- - x"): the rest is a node indented where it starts.
        lines[at] = { lineNo: line.lineNo, indent: indent + line.text.length - rest.length, text: rest };
        items.push(node(indent + 1));
      } else {
        at++;
        items.push(inline(rest, line.lineNo));
      }
    }
    return items;
  };

  const mapping = (indent: number): { [key: string]: YamlValue } => {
    const out: { [key: string]: YamlValue } = {};
    for (let line = lines[at]; line !== undefined && line.indent === indent && !ITEM.test(line.text); line = lines[at]) {
      const m = KEY.exec(line.text);
      if (!m) throw new YamlSubsetError(line.lineNo, `expected "key: value", found ${JSON.stringify(line.text)}`);
      const key = scalar(m[1] as string, line.lineNo) ?? '';
      at++;
      const value = m[2] !== undefined && m[2].trim() !== '' ? inline(m[2], line.lineNo) : blockAfter(indent, true);
      // Own property even for "__proto__": the key is data.
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    }
    return out;
  };

  const root = node(0);
  const left = lines[at];
  if (left !== undefined) throw new YamlSubsetError(left.lineNo, `unexpected indentation or content: ${JSON.stringify(left.text)}`);
  return root;
}

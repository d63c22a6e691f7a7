/**
 * String, char and number constants of a template as values. Follows Go's strconv.Unquote and
 * text/template/parse/node.go (newNumber, as idealConstant in exec.go sees it).
 */

import { int, type Value } from './values.js';

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

/** Go strconv.Unquote of a "…" or '…' literal (the latter returns one code point). */
export function unquote(lit: string, fail: (why: string) => never): string {
  const q = lit[0] as string;
  const body = lit.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; ) {
    const c = body[i] as string;
    if (c !== '\\') {
      out += c;
      i++;
      continue;
    }
    const e = body[i + 1] ?? '';
    if (e in SIMPLE_ESCAPES) {
      out += SIMPLE_ESCAPES[e];
      i += 2;
    } else if (e === q) {
      out += q;
      i += 2;
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = body.slice(i + 2, i + 2 + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) fail(`invalid syntax: ${lit}`);
      const cp = parseInt(hex, 16);
      if (e === 'x') out += q === '"' ? Buffer.from([cp]).toString('latin1') : String.fromCharCode(cp);
      else if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) fail(`invalid syntax: ${lit}`);
      else out += String.fromCodePoint(cp);
      i += 2 + n;
    } else if (/[0-7]/.test(e)) {
      const oct = body.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) fail(`invalid syntax: ${lit}`);
      out += String.fromCharCode(parseInt(oct, 8));
      i += 4;
    } else fail(`invalid syntax: ${lit}`);
  }
  if (q === "'" && [...out].length !== 1) fail(`malformed character constant: ${lit}`);
  // A \x escape above 0x7f in a Go string is a raw byte; only ASCII ones are kept here.
  if (q === '"' && /[\x80-\xff]/.test(out) && /\\x[89a-fA-F]/.test(body)) fail(`raw byte escapes are not supported: ${lit}`);
  return out;
}

/** A number constant as Go's idealConstant makes it: int, or float64 when written as one. */
export function numberValue(text: string, fail: (why: string) => never): Value {
  if (text.endsWith('i')) fail(`complex constants are not supported: ${text}`);
  const clean = text.replace(/_/g, '');
  const sign = clean.startsWith('-') ? -1 : 1;
  const unsigned = clean.replace(/^[+-]/, '');
  if (/^0[xX]/.test(unsigned) && /[.pP]/.test(unsigned)) fail(`hex float constants are not supported: ${text}`);
  let n: number;
  if (/^0[xX][0-9a-fA-F]+$|^0[oO][0-7]+$|^0[bB][01]+$/.test(unsigned)) n = Number(unsigned);
  else if (/^0[0-7]+$/.test(unsigned)) n = parseInt(unsigned, 8);
  else if (/^(0|[1-9][0-9]*)$/.test(unsigned)) n = Number(unsigned);
  else if (/[.eE]/.test(unsigned) && /^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(unsigned)) return { kind: 'float', v: sign * Number(unsigned) };
  else return fail(`bad number syntax: ${JSON.stringify(text)}`);
  if (!Number.isSafeInteger(n)) fail(`integer constant out of the supported range: ${text}`);
  return int(sign * n);
}

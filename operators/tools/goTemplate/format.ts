/**
 * Go fmt as templates print values: %v, Sprint, Sprintf, type names, and the html/js/urlquery
 * escapes. Follows Go's fmt/print.go and format.go, strconv's ftoa.go and quote.go,
 * text/template's funcs.go (HTMLEscapeString, JSEscapeString) and net/url's QueryEscape.
 */

import type { Value } from './values.js';

export const goTypeName = (v: Value): string =>
  v.kind === 'int' ? v.type : v.kind === 'float' ? 'float64' : v.kind === 'map' ? 'map[string]string' : v.kind === 'nil' ? '<nil>' : v.kind;

/** strconv.FormatFloat(f, 'g', -1, 64) as fmt's %v uses it. */
function formatFloat(f: number): string {
  if (Number.isNaN(f)) return 'NaN';
  if (!Number.isFinite(f)) return f > 0 ? '+Inf' : '-Inf';
  if (f === 0) return Object.is(f, -0) ? '-0' : '0';
  const [mant, e] = f.toExponential().split('e') as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= 6) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(f);
}

/** strconv.FormatFloat(f, 'f', prec, 64): the exact binary value rounded half to even. */
function formatFixed(f: number, prec: number): string {
  if (Number.isNaN(f)) return 'NaN';
  if (!Number.isFinite(f)) return f > 0 ? '+Inf' : '-Inf';
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, f);
  const bits = view.getBigUint64(0);
  const expBits = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  if (expBits !== 0) mant |= 1n << 52n;
  const exp = expBits === 0 ? -1074 : expBits - 1075;
  // |f| · 10^prec = num / den exactly
  let num = mant * 10n ** BigInt(prec);
  let den = 1n;
  if (exp >= 0) num <<= BigInt(exp);
  else den <<= BigInt(-exp);
  let q = num / den;
  const r2 = (num % den) * 2n;
  if (r2 > den || (r2 === den && q % 2n === 1n)) q += 1n;
  const digits = q.toString().padStart(prec + 1, '0');
  const cut = digits.length - prec;
  return (bits >> 63n ? '-' : '') + digits.slice(0, cut) + (prec > 0 ? `.${digits.slice(cut)}` : '');
}

export const byteCompare = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** fmt's %v of a value. */
export function formatValue(v: Value): string {
  switch (v.kind) {
    case 'string':
      return v.v;
    case 'int':
      return String(v.v);
    case 'float':
      return formatFloat(v.v);
    case 'bool':
      return String(v.v);
    case 'nil':
      return '<nil>';
    case 'map':
      return `map[${Object.keys(v.v)
        .sort(byteCompare)
        .map((k) => `${k}:${v.v[k]}`)
        .join(' ')}]`;
  }
}

/** fmt.Sprint: operands side by side, a space between two that are both non-strings. */
export function sprint(args: readonly Value[]): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && a.kind !== 'string' && (args[i - 1] as Value).kind !== 'string') out += ' ';
    out += formatValue(a);
  });
  return out;
}

/** strconv.Quote / QuoteRune (printable non-ASCII kept as is). */
function goQuote(s: string, q: '"' | "'"): string {
  let out = q;
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === q || ch === '\\') out += `\\${ch}`;
    else if (ch === '\x07') out += '\\a';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\v') out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (!/[\p{L}\p{M}\p{N}\p{P}\p{S} ]/u.test(ch)) out += c > 0xffff ? `\\U${c.toString(16).padStart(8, '0')}` : `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out + q;
}

function pad(s: string, width: number | undefined, minus: boolean, zero: boolean): string {
  if (width === undefined || [...s].length >= width) return s;
  const n = width - [...s].length;
  if (minus) return s + ' '.repeat(n);
  if (zero) {
    const sign = /^[+-]/.test(s) ? (s[0] as string) : '';
    return sign + '0'.repeat(n) + s.slice(sign.length);
  }
  return ' '.repeat(n) + s;
}

/** fmt.Sprintf over the verbs and flags NSM selectors may reasonably use. */
export function sprintf(format: string, args: readonly Value[], fail: (why: string) => never): string {
  let out = '';
  let argi = 0;
  for (let i = 0; i < format.length; ) {
    const c = format[i] as string;
    if (c !== '%') {
      out += c;
      i++;
      continue;
    }
    i++;
    let plus = false;
    let minus = false;
    let zero = false;
    for (;;) {
      const f = format[i];
      if (f === '+') plus = true;
      else if (f === '-') minus = true;
      else if (f === '0') zero = true;
      else if (f === '#' || f === ' ') fail(`printf flag ${JSON.stringify(f)} is not supported`);
      else break;
      i++;
    }
    const number = (): number | undefined => {
      if (format[i] === '*') {
        i++;
        const a = args[argi++];
        if (a?.kind !== 'int') return fail('printf * needs an int argument');
        return a.v;
      }
      const m = /^[0-9]+/.exec(format.slice(i));
      if (m === null) return undefined;
      i += m[0].length;
      return Number(m[0]);
    };
    let width = number();
    if (width !== undefined && width < 0) {
      minus = true;
      width = -width;
    }
    let prec: number | undefined;
    if (format[i] === '.') {
      i++;
      prec = number() ?? 0;
    }
    const verb = format[i];
    if (verb === undefined) {
      out += '%!(NOVERB)';
      break;
    }
    i++;
    if (verb === '%') {
      out += '%';
      continue;
    }
    const arg = args[argi++];
    if (arg === undefined) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    if (verb === 'T') {
      out += pad(goTypeName(arg), width, minus, zero && !minus);
      continue;
    }
    const bad = (): string => (arg.kind === 'nil' ? `%!${verb}(<nil>)` : `%!${verb}(${goTypeName(arg)}=${formatValue(arg)})`);
    const signed = (s: string, n: number): string => (plus && n >= 0 ? `+${s}` : s);
    let s: string;
    switch (arg.kind) {
      case 'string': {
        const v = prec === undefined ? arg.v : [...arg.v].slice(0, prec).join('');
        if (verb === 's' || verb === 'v') s = v;
        else if (verb === 'q') s = plus ? fail('printf %+q is not supported') : goQuote(v, '"');
        else if (verb === 'x' || verb === 'X') s = Buffer.from(v).toString('hex')[verb === 'X' ? 'toUpperCase' : 'toLowerCase']();
        else s = bad();
        break;
      }
      case 'int': {
        const n = arg.v;
        const digits = (radix: number) => {
          const d = Math.abs(n).toString(radix);
          return (n < 0 ? '-' : '') + (prec !== undefined ? d.padStart(prec, '0') : d);
        };
        if (verb === 'd' || verb === 'v') s = signed(digits(10), n);
        else if (verb === 'x') s = signed(digits(16), n);
        else if (verb === 'X') s = signed(digits(16).toUpperCase(), n);
        else if (verb === 'o') s = signed(digits(8), n);
        else if (verb === 'b') s = signed(digits(2), n);
        else if (verb === 'c' || verb === 'q') {
          const ch = n >= 0 && n <= 0x10ffff && !(n >= 0xd800 && n < 0xe000) ? String.fromCodePoint(n) : '\ufffd';
          s = verb === 'c' ? ch : goQuote(ch, "'");
        } else s = bad();
        break;
      }
      case 'float': {
        const f = arg.v;
        const expo = (p: number) => f.toExponential(p).replace(/e([+-])(\d)$/, 'e$10$2');
        if (verb === 'v' || verb === 'g') s = prec === undefined ? signed(formatFloat(f), f) : fail('printf %g with a precision is not supported');
        else if (verb === 'f' || verb === 'F') s = signed(formatFixed(f, prec ?? 6), f);
        else if (verb === 'e') s = signed(expo(prec ?? 6), f);
        else if (verb === 'E') s = signed(expo(prec ?? 6).toUpperCase(), f);
        else s = bad();
        break;
      }
      case 'bool':
        s = verb === 't' || verb === 'v' ? String(arg.v) : bad();
        break;
      case 'map':
        s = verb === 'v' || verb === 's' ? formatValue(arg) : fail(`printf %${verb} of a map is not supported`);
        break;
      case 'nil':
        s = verb === 'v' ? '<nil>' : bad();
        break;
    }
    out += s.startsWith('%!') ? s : pad(s, width, minus, zero && !minus);
  }
  if (argi < args.length) {
    out += `%!(EXTRA ${args
      .slice(argi)
      .map((a) => (a.kind === 'nil' ? '<nil>' : `${goTypeName(a)}=${formatValue(a)}`))
      .join(', ')})`;
  }
  return out;
}

export const htmlEscape = (s: string): string =>
  s.replace(/[\0"'&<>]/g, (c) => ({ '\0': '\ufffd', '"': '&#34;', "'": '&#39;', '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c] as string);

export const jsEscape = (s: string): string =>
  [...s]
    .map((c) => {
      if (c === '\\' || c === "'" || c === '"') return `\\${c}`;
      const cp = c.codePointAt(0) as number;
      if ('<>&='.includes(c) || cp < 0x20 || (cp >= 0x80 && !/[\p{L}\p{M}\p{N}\p{P}\p{S} ]/u.test(c))) {
        return `\\u${cp.toString(16).toUpperCase().padStart(4, '0')}`;
      }
      return c;
    })
    .join('');

export const queryEscape = (s: string): string =>
  [...Buffer.from(s)].map((b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : b === 0x20 ? '+' : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');

/** The lexer: template text to tokens. Follows Go's text/template/parse/lex.go (default delimiters). */

export type Tok =
  | { readonly t: 'text'; readonly v: string }
  | { readonly t: 'left' | 'right' | 'space' | 'pipe' | 'declare' | 'assign' | 'comma' | 'lparen' | 'rparen' | 'dot' | 'eof' }
  | { readonly t: 'field' | 'var' | 'ident' | 'keyword' | 'string' | 'number' | 'char' | 'bool'; readonly v: string };

const KEYWORDS = new Set(['block', 'break', 'continue', 'define', 'else', 'end', 'if', 'nil', 'range', 'template', 'with']);
const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isAlnum = (c: string | undefined): boolean => c !== undefined && /^[\p{L}\p{Nd}_]$/u.test(c);
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
/** Chars that may follow an identifier, field or variable (Go atTerminator). */
const isTerminator = (s: string, i: number): boolean => {
  const c = s[i];
  return c === undefined || isSpace(c) || '.,|:()'.includes(c) || s.startsWith('}}', i);
};

export function lex(src: string, fail: (why: string) => never): Tok[] {
  const toks: Tok[] = [];
  let pos = 0;
  let trimNext = false;
  const skipSpace = (i: number): number => {
    while (isSpace(src[i])) i++;
    return i;
  };
  while (pos <= src.length) {
    const open = src.indexOf('{{', pos);
    let text = src.slice(pos, open < 0 ? src.length : open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    trimNext = false;
    if (open < 0) {
      if (text !== '') toks.push({ t: 'text', v: text });
      break;
    }
    let p = open + 2;
    if (src[p] === '-' && isSpace(src[p + 1])) {
      text = text.replace(/[ \t\r\n]+$/, '');
      p += 2;
    }
    if (text !== '') toks.push({ t: 'text', v: text });
    if (src.startsWith('/*', p)) {
      const end = src.indexOf('*/', p + 2);
      if (end < 0) fail('unclosed comment');
      const q = end + 2;
      if (src.startsWith('}}', q)) pos = q + 2;
      else if (isSpace(src[q]) && src.startsWith('-}}', q + 1)) {
        pos = q + 4;
        trimNext = true;
      } else fail('comment ends before closing delimiter');
      continue;
    }
    toks.push({ t: 'left' });
    let depth = 0;
    for (;;) {
      const c = src[p];
      if (c === undefined) fail('unclosed action');
      if (src.startsWith('}}', p)) {
        if (depth > 0) fail('unclosed left paren');
        toks.push({ t: 'right' });
        p += 2;
        break;
      }
      if (isSpace(c)) {
        let q = p;
        while (isSpace(src[q])) q++;
        if (src.startsWith('-}}', q)) {
          if (depth > 0) fail('unclosed left paren');
          toks.push({ t: 'right' });
          p = q + 3;
          trimNext = true;
          break;
        }
        toks.push({ t: 'space' });
        p = q;
        continue;
      }
      if (c === '=') {
        toks.push({ t: 'assign' });
        p++;
      } else if (c === ':') {
        if (src[p + 1] !== '=') fail('expected :=');
        toks.push({ t: 'declare' });
        p += 2;
      } else if (c === '|') {
        toks.push({ t: 'pipe' });
        p++;
      } else if (c === ',') {
        toks.push({ t: 'comma' });
        p++;
      } else if (c === '(') {
        depth++;
        toks.push({ t: 'lparen' });
        p++;
      } else if (c === ')') {
        if (--depth < 0) fail('unexpected right paren');
        toks.push({ t: 'rparen' });
        p++;
      } else if (c === '"' || c === "'") {
        let q = p + 1;
        while (src[q] !== c) {
          if (src[q] === '\\') q++;
          if (src[q] === undefined || src[q] === '\n') fail(c === '"' ? 'unterminated quoted string' : 'unterminated character constant');
          q++;
        }
        toks.push({ t: c === '"' ? 'string' : 'char', v: src.slice(p, q + 1) });
        p = q + 1;
      } else if (c === '`') {
        const q = src.indexOf('`', p + 1);
        if (q < 0) fail('unterminated raw quoted string');
        toks.push({ t: 'string', v: src.slice(p, q + 1) });
        p = q + 1;
      } else if (c === '$' || (c === '.' && !isDigit(src[p + 1]))) {
        let q = p + 1;
        while (isAlnum(src[q])) q++;
        if (!isTerminator(src, q)) fail(`bad character ${JSON.stringify(src[q])}`);
        const name = src.slice(p, q);
        toks.push(c === '$' ? { t: 'var', v: name } : name === '.' ? { t: 'dot' } : { t: 'field', v: name.slice(1) });
        p = q;
      } else if (c === '+' || c === '-' || c === '.' || isDigit(c)) {
        const q = scanNumber(src, p);
        if (isAlnum(src[q]) || src[q] === '.') fail(`bad number syntax: ${JSON.stringify(src.slice(p, q + 1))}`);
        toks.push({ t: 'number', v: src.slice(p, q) });
        p = q;
      } else if (isAlnum(c)) {
        let q = p;
        while (isAlnum(src[q])) q++;
        if (!isTerminator(src, q)) fail(`bad character ${JSON.stringify(src[q])}`);
        const word = src.slice(p, q);
        toks.push(word === 'true' || word === 'false' ? { t: 'bool', v: word } : KEYWORDS.has(word) ? { t: 'keyword', v: word } : { t: 'ident', v: word });
        p = q;
      } else fail(`bad character ${JSON.stringify(c)}`);
    }
    pos = trimNext ? skipSpace(p) : p;
    trimNext = false;
  }
  toks.push({ t: 'eof' });
  return toks;
}

/** End of Go's scanNumber from `p` (sign, base prefix, digits, fraction, exponent, `i`). */
function scanNumber(s: string, p: number): number {
  if (s[p] === '+' || s[p] === '-') p++;
  let digits = '0123456789_';
  let exp = 'eE';
  if (s[p] === '0' && /[xXoObB]/.test(s[p + 1] ?? '')) {
    const b = (s[p + 1] as string).toLowerCase();
    digits = b === 'x' ? '0123456789abcdefABCDEF_' : b === 'o' ? '01234567_' : '01_';
    exp = b === 'x' ? 'pP' : '';
    p += 2;
  }
  const run = () => {
    while (s[p] !== undefined && digits.includes(s[p] as string)) p++;
  };
  run();
  if (s[p] === '.') {
    p++;
    run();
  }
  if (exp !== '' && s[p] !== undefined && exp.includes(s[p] as string)) {
    p++;
    if (s[p] === '+' || s[p] === '-') p++;
    while (isDigit(s[p]) || s[p] === '_') p++;
  }
  if (s[p] === 'i') p++;
  return p;
}

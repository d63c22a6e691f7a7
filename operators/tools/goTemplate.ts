/**
 * Go's `text/template` as NSM label selectors use it: upstream matchutils executes each selector
 * value as a template over the request labels (a `map[string]string`) and, when it cannot parse
 * or execute it, compares the value literally. This module parses and executes templates with
 * Go's meaning over such a map:
 *
 * - text, actions, trim markers (`{{- ` / ` -}}`), comments (`{{/* … *\/}}`);
 * - pipelines (`a | b`), parenthesised pipelines, field chains (`.a`, `$.a`, `$x.a`, `(…).a`),
 *   `.`, `$`, variables (`$x := …`, `$x = …`, `range $k, $v := …`), string, raw string, char,
 *   number, bool and nil constants;
 * - `if` / `else if` / `with` / `else with` / `range` (over the map in key order, or an int) /
 *   `else` / `end`, `break`, `continue`, `define` / `template` / `block`;
 * - the builtins `and`, `or`, `not`, `len`, `index`, `slice`, `eq`, `ne`, `lt`, `le`, `gt`,
 *   `ge`, `print`, `println`, `printf`, `html`, `js`, `urlquery`.
 *
 * A missing key reads as Go's invalid value: printed `<no value>`, false, equal only to another
 * missing value, `<nil>` when passed to `print`/`printf`. Everything Go rejects throws a
 * {@link GoTemplateError}; so does what is not supported here (`call`; `printf` flags `#` and
 * space, `%g` with a precision, verbs other than `%v %s %d %q %x %X %o %b %c %t %T %e %E %f %F
 * %g %%`; complex and hex-float constants; integers beyond 2^53): the selector then stays
 * literal, as upstream does for a template it cannot use. The expected outputs in the spec were
 * produced by Go itself.
 */

export class GoTemplateError extends Error {
  constructor(
    readonly template: string,
    why: string,
  ) {
    super(`template ${JSON.stringify(template)}: ${why}`);
    this.name = 'GoTemplateError';
  }
}

/** The value Go's text/template prints for a missing map key. */
export const GO_NO_VALUE = '<no value>';

type Labels = Readonly<Record<string, string>>;

/** A Go value; `undefined` (see {@link Val}) is Go's invalid reflect.Value (a missing key). */
type Value =
  | { readonly kind: 'string'; readonly v: string }
  | { readonly kind: 'int'; readonly v: number; readonly type: 'int' | 'uint8' }
  | { readonly kind: 'float'; readonly v: number }
  | { readonly kind: 'bool'; readonly v: boolean }
  | { readonly kind: 'map'; readonly v: Labels; readonly isNil: boolean }
  | { readonly kind: 'nil' };
type Val = Value | undefined;

const str = (v: string): Value => ({ kind: 'string', v });
const int = (v: number, type: 'int' | 'uint8' = 'int'): Value => ({ kind: 'int', v, type });
const bool = (v: boolean): Value => ({ kind: 'bool', v });

// ---------------------------------------------------------------------------------------------
// Syntax tree

type Arg =
  | { readonly t: 'field'; readonly names: readonly string[] }
  | { readonly t: 'dot' }
  | { readonly t: 'var'; readonly name: string; readonly names: readonly string[] }
  | { readonly t: 'ident'; readonly name: string }
  | { readonly t: 'const'; readonly value: Value; readonly text: string }
  | { readonly t: 'nil' }
  | { readonly t: 'pipe'; readonly pipe: Pipe }
  | { readonly t: 'chain'; readonly pipe: Pipe; readonly names: readonly string[] };
interface Cmd {
  readonly args: readonly Arg[];
}
interface Pipe {
  readonly decl: readonly string[];
  readonly isAssign: boolean;
  readonly cmds: readonly Cmd[];
}
interface Control {
  readonly t: 'if' | 'with' | 'range';
  readonly pipe: Pipe;
  readonly list: readonly Node[];
  readonly elseList: readonly Node[];
}
type Node =
  | { readonly t: 'text'; readonly text: string }
  | { readonly t: 'action'; readonly pipe: Pipe }
  | Control
  | { readonly t: 'break' | 'continue' }
  | { readonly t: 'template'; readonly name: string; readonly pipe: Pipe | undefined };

/** A parsed template, ready to execute any number of times. */
export interface GoTemplate {
  readonly source: string;
  readonly nodes: readonly Node[];
  /** Templates it defines (`define`, `block`), by name. */
  readonly defined: ReadonlyMap<string, readonly Node[]>;
}

/** Go's own limit on nested `template` calls (its maxExecDepth). */
const MAX_TEMPLATE_DEPTH = 100000;

// ---------------------------------------------------------------------------------------------
// Lexer (Go's text/template/parse/lex.go, default delimiters)

type Tok =
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

function lex(src: string, fail: (why: string) => never): Tok[] {
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

// ---------------------------------------------------------------------------------------------
// Constants

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

/** Go strconv.Unquote of a "…" or '…' literal (the latter returns one code point). */
function unquote(lit: string, fail: (why: string) => never): string {
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
function numberValue(text: string, fail: (why: string) => never): Value {
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

// ---------------------------------------------------------------------------------------------
// Parser (Go's text/template/parse/parse.go)

const FUNCTIONS = new Set(['and', 'or', 'not', 'len', 'index', 'slice', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'print', 'println', 'printf', 'html', 'js', 'urlquery', 'call']);

class Parser {
  private i = 0;
  private vars: string[] = ['$'];
  private rangeDepth = 0;
  private depth = 0;
  readonly defined = new Map<string, readonly Node[]>();

  constructor(
    private readonly toks: readonly Tok[],
    private readonly fail: (why: string) => never,
  ) {}

  private peek(): Tok {
    return this.toks[this.i] as Tok;
  }
  private next(): Tok {
    return this.toks[this.i++] as Tok;
  }
  private peekNonSpace(): Tok {
    while (this.peek().t === 'space') this.i++;
    return this.peek();
  }
  private nextNonSpace(): Tok {
    this.peekNonSpace();
    return this.next();
  }
  private expectRight(context: string): void {
    if (this.nextNonSpace().t !== 'right') this.fail(`unexpected input in ${context}`);
  }

  /** The whole template. */
  parse(): Node[] {
    const [nodes, end] = this.list();
    if (end !== 'eof') this.fail(`unexpected {{${end}}}`);
    return nodes;
  }

  /** Nodes up to EOF, `{{end}}` or `{{else}}` (which is consumed up to its keyword). */
  private list(): [Node[], 'eof' | 'end' | 'else'] {
    const nodes: Node[] = [];
    for (;;) {
      const tok = this.next();
      if (tok.t === 'eof') return [nodes, 'eof'];
      if (tok.t === 'text') {
        nodes.push({ t: 'text', text: tok.v });
        continue;
      }
      // tok is 'left'
      const k = this.peekNonSpace();
      if (k.t === 'keyword' && k.v !== 'nil') {
        this.next();
        switch (k.v) {
          case 'end':
            this.expectRight('end');
            return [nodes, 'end'];
          case 'else':
            return [nodes, 'else'];
          case 'if':
          case 'with':
          case 'range':
            nodes.push(this.control(k.v));
            break;
          case 'define': {
            if (this.depth > 0) this.fail('unexpected {{define}}: only at the top level');
            const name = this.templateName('define');
            this.expectRight('define');
            this.define(name);
            break;
          }
          case 'template':
          case 'block': {
            const name = this.templateName(k.v);
            const pipe = this.peekNonSpace().t === 'right' ? (this.next(), undefined) : this.pipeline(k.v, 'right');
            if (k.v === 'block') {
              if (pipe === undefined) this.fail('missing pipeline in {{block}}');
              this.define(name);
            }
            nodes.push({ t: 'template', name, pipe });
            break;
          }
          case 'break':
          case 'continue':
            if (this.rangeDepth === 0) this.fail(`{{${k.v}}} outside {{range}}`);
            this.expectRight(k.v);
            nodes.push({ t: k.v });
            break;
        }
        continue;
      }
      const pipe = this.pipeline('command', 'right');
      nodes.push({ t: 'action', pipe });
    }
  }

  private templateName(context: string): string {
    const t = this.nextNonSpace();
    if (t.t !== 'string') return this.fail(`unexpected token in ${context}: a template name is a string constant`);
    return t.v.startsWith('`') ? t.v.slice(1, -1) : unquote(t.v, this.fail);
  }

  /** The body of a define or block, up to its {{end}}, with its own variables. */
  private define(name: string): void {
    const vars = this.vars;
    this.vars = ['$'];
    this.depth++;
    const [body, end] = this.list();
    this.depth--;
    this.vars = vars;
    if (end !== 'end') this.fail(end === 'eof' ? 'unexpected EOF' : 'unexpected {{else}}');
    // Go keeps a first non-empty definition and refuses a second one.
    if (this.defined.has(name) && body.some((n) => n.t !== 'text' || n.text.trim() !== '')) this.fail(`template: multiple definition of template ${JSON.stringify(name)}`);
    if (!this.defined.has(name) || body.length > 0) this.defined.set(name, body);
  }

  private control(kind: 'if' | 'with' | 'range'): Node {
    const mark = this.vars.length;
    this.depth++;
    const pipe = this.pipeline(kind, 'right');
    if (kind === 'range') this.rangeDepth++;
    const [list, end] = this.list();
    if (kind === 'range') this.rangeDepth--;
    let elseList: Node[] = [];
    if (end === 'eof') this.fail('unexpected EOF');
    if (end === 'else') {
      const k = this.peekNonSpace();
      // "else if" / "else with": an else-list holding one nested if/with that takes the {{end}}.
      if (k.t === 'keyword' && (k.v === 'if' || k.v === 'with') && kind !== 'range') {
        if (k.v !== kind) this.fail(`expected {{else ${kind}}}`);
        this.next();
        elseList = [this.control(kind)];
      } else {
        this.expectRight('else');
        const [l, end2] = this.list();
        if (end2 !== 'end') this.fail(end2 === 'eof' ? 'unexpected EOF' : 'expected end; found {{else}}');
        elseList = l;
      }
    }
    this.vars.length = mark;
    this.depth--;
    return { t: kind, pipe, list, elseList };
  }

  private pipeline(context: string, end: 'right' | 'rparen'): Pipe {
    const decl: string[] = [];
    let isAssign = false;
    for (;;) {
      const v = this.peekNonSpace();
      if (v.t !== 'var') break;
      const save = this.i;
      this.next();
      const after = this.peekNonSpace();
      if (after.t === 'declare' || after.t === 'assign') {
        this.next();
        isAssign = after.t === 'assign';
        if (isAssign && !this.vars.includes(v.v)) this.fail(`undefined variable ${JSON.stringify(v.v)}`);
        decl.push(v.v);
        this.vars.push(v.v);
        break;
      }
      if (after.t === 'comma' && context === 'range' && decl.length === 0) {
        this.next();
        decl.push(v.v);
        this.vars.push(v.v);
        if (this.peekNonSpace().t !== 'var') this.fail('range can only initialize variables');
        continue;
      }
      if (decl.length > 0) this.fail('range can only initialize variables');
      this.i = save;
      break;
    }
    const cmds: Cmd[] = [];
    for (;;) {
      const t = this.peekNonSpace();
      if (t.t === end) {
        this.next();
        break;
      }
      cmds.push(this.command());
      const sep = this.peekNonSpace();
      if (sep.t === 'pipe') this.next();
      else if (sep.t !== end) this.fail(`unexpected token in ${context}`);
    }
    if (cmds.length === 0) this.fail(`missing value for ${context}`);
    // Only the first stage may be a constant or the dot (Go checkPipeline).
    cmds.slice(1).forEach((c, i) => {
      const t = c.args[0]?.t;
      if (t === 'const' || t === 'dot' || t === 'nil') this.fail(`non executable command in pipeline stage ${i + 2}`);
    });
    return { decl, isAssign, cmds };
  }

  private command(): Cmd {
    const args: Arg[] = [];
    for (;;) {
      this.peekNonSpace();
      args.push(this.operand());
      const t = this.peek();
      if (t.t === 'space') {
        const n = this.peekNonSpace();
        if (n.t === 'pipe' || n.t === 'right' || n.t === 'rparen') break;
        continue;
      }
      if (t.t === 'pipe' || t.t === 'right' || t.t === 'rparen') break;
      this.fail('unexpected token in operand');
    }
    return { args };
  }

  private operand(): Arg {
    const term = this.term();
    const names: string[] = [];
    while (this.peek().t === 'field') names.push((this.next() as { v: string }).v);
    if (names.length === 0) return term;
    switch (term.t) {
      case 'field':
        return { t: 'field', names: [...term.names, ...names] };
      case 'var':
        return { t: 'var', name: term.name, names: [...term.names, ...names] };
      case 'pipe':
        return { t: 'chain', pipe: term.pipe, names };
      case 'dot':
        return this.fail('unexpected . after term ".": field chains start at the dot');
      default:
        return this.fail('unexpected . after term');
    }
  }

  private term(): Arg {
    const tok = this.next();
    switch (tok.t) {
      case 'ident':
        if (!FUNCTIONS.has(tok.v)) this.fail(`function ${JSON.stringify(tok.v)} not defined`);
        return { t: 'ident', name: tok.v };
      case 'dot':
        return { t: 'dot' };
      case 'keyword':
        if (tok.v === 'nil') return { t: 'nil' };
        return this.fail(`unexpected {{${tok.v}}} in operand`);
      case 'var':
        if (!this.vars.includes(tok.v)) this.fail(`undefined variable ${JSON.stringify(tok.v)}`);
        return { t: 'var', name: tok.v, names: [] };
      case 'field':
        return { t: 'field', names: [tok.v] };
      case 'bool':
        return { t: 'const', value: bool(tok.v === 'true'), text: tok.v };
      case 'number':
        return { t: 'const', value: numberValue(tok.v, this.fail), text: tok.v };
      case 'char':
        return { t: 'const', value: int(unquote(tok.v, this.fail).codePointAt(0) as number), text: tok.v };
      case 'string':
        return { t: 'const', value: str(tok.v.startsWith('`') ? tok.v.slice(1, -1).replace(/\r/g, '') : unquote(tok.v, this.fail)), text: tok.v };
      case 'lparen':
        return { t: 'pipe', pipe: this.pipeline('parenthesized pipeline', 'rparen') };
      default:
        return this.fail(tok.t === 'right' || tok.t === 'rparen' || tok.t === 'pipe' ? 'missing value for command' : `unexpected ${tok.t} in operand`);
    }
  }
}

/**
 * Parses `template` as Go's `template.New(…).Parse` does.
 * @throws GoTemplateError where Go's parser fails, or for what is not supported.
 */
export function parseGoTemplate(template: string): GoTemplate {
  const fail = (why: string): never => {
    throw new GoTemplateError(template, why);
  };
  const parser = new Parser(lex(template, fail), fail);
  const nodes = parser.parse();
  return { source: template, nodes, defined: parser.defined };
}

// ---------------------------------------------------------------------------------------------
// Formatting (Go fmt)

const goTypeName = (v: Value): string =>
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

const byteCompare = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** fmt's %v of a value. */
function formatValue(v: Value): string {
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
function sprint(args: readonly Value[]): string {
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
function sprintf(format: string, args: readonly Value[], fail: (why: string) => never): string {
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

const htmlEscape = (s: string): string =>
  s.replace(/[\0"'&<>]/g, (c) => ({ '\0': '\ufffd', '"': '&#34;', "'": '&#39;', '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c] as string);

const jsEscape = (s: string): string =>
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

const queryEscape = (s: string): string =>
  [...Buffer.from(s)].map((b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : b === 0x20 ? '+' : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');

// ---------------------------------------------------------------------------------------------
// Execution (Go's text/template/exec.go and funcs.go)

/** Go's isTrue; the invalid value is false. */
function truth(v: Val): boolean {
  if (v === undefined) return false;
  switch (v.kind) {
    case 'string':
      return v.v !== '';
    case 'int':
    case 'float':
      return v.v !== 0;
    case 'bool':
      return v.v;
    case 'map':
      return Object.keys(v.v).length > 0;
    case 'nil':
      return false;
  }
}

type Basic = 'bool' | 'int' | 'float' | 'string' | 'invalid';
const basicKind = (v: Val): Basic => (v === undefined || v.kind === 'map' || v.kind === 'nil' ? 'invalid' : v.kind);

class BreakSignal {}
class ContinueSignal {}
const NO_FINAL = Symbol('no final');
type Final = Val | typeof NO_FINAL;

class Exec {
  private out = '';
  private vars: { name: string; value: Val }[];
  private depth = 0;

  constructor(
    private readonly tpl: GoTemplate,
    data: Value,
  ) {
    this.vars = [{ name: '$', value: data }];
  }

  private fail(why: string): never {
    throw new GoTemplateError(this.tpl.source, why);
  }

  run(): string {
    this.walk(this.vars[0]?.value, this.tpl.nodes);
    return this.out;
  }

  private walk(dot: Val, nodes: readonly Node[]): void {
    for (const node of nodes) {
      switch (node.t) {
        case 'text':
          this.out += node.text;
          break;
        case 'action': {
          const v = this.pipeline(dot, node.pipe);
          if (node.pipe.decl.length === 0) this.out += v === undefined ? GO_NO_VALUE : formatValue(v);
          break;
        }
        case 'if':
        case 'with': {
          const mark = this.vars.length;
          const v = this.pipeline(dot, node.pipe);
          if (truth(v)) this.walk(node.t === 'with' ? v : dot, node.list);
          else this.walk(dot, node.elseList);
          this.vars.length = mark;
          break;
        }
        case 'range':
          this.range(dot, node);
          break;
        case 'template': {
          const body = this.tpl.defined.get(node.name);
          if (body === undefined) this.fail(`template ${JSON.stringify(node.name)} not defined`);
          if (++this.depth > MAX_TEMPLATE_DEPTH) this.fail(`exceeded maximum template depth (${MAX_TEMPLATE_DEPTH})`);
          const value = node.pipe === undefined ? undefined : this.pipeline(dot, node.pipe);
          const vars = this.vars;
          this.vars = [{ name: '$', value }];
          this.walk(value, body);
          this.vars = vars;
          this.depth--;
          break;
        }
        case 'break':
          throw new BreakSignal();
        case 'continue':
          throw new ContinueSignal();
      }
    }
  }

  private range(dot: Val, node: Control): void {
    const mark = this.vars.length;
    const v = this.pipelineValue(dot, node.pipe);
    let items: [Value, Value][] = [];
    if (v === undefined || v.kind === 'nil') items = [];
    else if (v.kind === 'map') items = Object.keys(v.v).sort(byteCompare).map((k) => [str(k), str(v.v[k] as string)]);
    else if (v.kind === 'int') items = Array.from({ length: Math.max(0, v.v) }, (_, i) => [int(i), int(i)]);
    else this.fail(`range can't iterate over ${formatValue(v)}`);
    if (v?.kind === 'int' && node.pipe.decl.length > 1) this.fail(`can't use ${formatValue(v)} to iterate over more than one variable`);
    if (items.length === 0) {
      this.vars.length = mark;
      this.walk(dot, node.elseList);
      return;
    }
    for (const [key, elem] of items) {
      const [first, second] = node.pipe.decl;
      if (second !== undefined) this.vars.push({ name: first as string, value: key }, { name: second, value: elem });
      else if (first !== undefined) this.vars.push({ name: first, value: elem });
      try {
        this.walk(elem, node.list);
      } catch (e) {
        if (e instanceof BreakSignal) break;
        if (!(e instanceof ContinueSignal)) throw e;
      } finally {
        this.vars.length = mark;
      }
    }
    this.vars.length = mark;
  }

  /** A range's pipeline: its value, without binding the declared variables (range does). */
  private pipelineValue(dot: Val, pipe: Pipe): Val {
    let value: Final = NO_FINAL;
    for (const cmd of pipe.cmds) value = this.command(dot, cmd, value);
    return value === NO_FINAL ? undefined : value;
  }

  private pipeline(dot: Val, pipe: Pipe): Val {
    const value = this.pipelineValue(dot, pipe);
    for (const name of pipe.decl) {
      if (pipe.isAssign) {
        const slot = [...this.vars].reverse().find((x) => x.name === name);
        if (slot === undefined) this.fail(`undefined variable: ${name}`);
        slot.value = value;
      } else this.vars.push({ name, value });
    }
    return value;
  }

  private variable(name: string): Val {
    const slot = [...this.vars].reverse().find((x) => x.name === name);
    if (slot === undefined) this.fail(`undefined variable: ${name}`);
    return slot.value;
  }

  private command(dot: Val, cmd: Cmd, final: Final): Val {
    const [first, ...rest] = cmd.args as [Arg, ...Arg[]];
    const hasArgs = rest.length > 0 || final !== NO_FINAL;
    const notAFunction = (what: string) => hasArgs && this.fail(`can't give argument to non-function ${what}`);
    switch (first.t) {
      case 'field':
        return this.fieldChain(dot, first.names, hasArgs);
      case 'chain':
        notAFunction('(pipeline)');
        return this.fieldChain(this.pipeline(dot, first.pipe), first.names, false);
      case 'var':
        notAFunction(first.name);
        return this.fieldChain(this.variable(first.name), first.names, false);
      case 'ident':
        return this.call(dot, first.name, rest, final);
      case 'pipe':
        notAFunction('(pipeline)');
        return this.pipeline(dot, first.pipe);
      case 'dot':
        notAFunction('.');
        return dot;
      case 'nil':
        return this.fail('nil is not a command');
      case 'const':
        notAFunction(first.text);
        return first.value;
    }
  }

  /** `.a.b` from `receiver`; a map field with arguments is an error, as in Go. */
  private fieldChain(receiver: Val, names: readonly string[], hasArgs: boolean): Val {
    let v = receiver;
    names.forEach((name, i) => {
      if (v === undefined) return;
      if (v.kind !== 'map') this.fail(`can't evaluate field ${name} in type ${goTypeName(v)}`);
      if (hasArgs && i === names.length - 1) this.fail(`${name} is not a method but has arguments`);
      v = Object.hasOwn(v.v, name) ? str(v.v[name] as string) : undefined;
    });
    return v;
  }

  /** An argument as Go's evalArg gives it to a function. */
  private arg(dot: Val, a: Arg): Val {
    switch (a.t) {
      case 'nil':
        return { kind: 'nil' };
      case 'ident':
        return this.call(dot, a.name, [], NO_FINAL);
      default:
        return this.command(dot, { args: [a] }, NO_FINAL);
    }
  }

  /** An argument to an `interface{}` parameter: the invalid value becomes nil. */
  private anyArg(v: Val): Value {
    return v ?? { kind: 'nil' };
  }

  private call(dot: Val, name: string, argNodes: readonly Arg[], final: Final): Val {
    const count = argNodes.length + (final === NO_FINAL ? 0 : 1);
    const arity = (min: number, max = min) => {
      if (count < min || count > max) {
        this.fail(`wrong number of args for ${name}: want ${max === Infinity ? `at least ${min}` : min} got ${count}`);
      }
    };
    /** The arguments, `final` last. */
    const all = (): Val[] => {
      const vs = argNodes.map((a) => this.arg(dot, a));
      if (final !== NO_FINAL) vs.push(final);
      return vs;
    };
    switch (name) {
      case 'and':
      case 'or': {
        arity(1, Infinity);
        let v: Val;
        for (const a of argNodes) {
          v = this.arg(dot, a);
          if (truth(v) === (name === 'or')) return v;
        }
        return final === NO_FINAL ? v : final;
      }
      case 'not':
        arity(1);
        return bool(!truth(all()[0]));
      case 'len': {
        arity(1);
        const v = all()[0];
        if (v?.kind === 'string') return int(Buffer.byteLength(v.v));
        if (v?.kind === 'map') return int(Object.keys(v.v).length);
        return this.fail(`error calling len: len of ${v === undefined ? 'nil pointer' : `type ${goTypeName(v)}`}`);
      }
      case 'index':
        arity(1, Infinity);
        return this.index(all());
      case 'slice':
        arity(1, Infinity);
        return this.slice(all());
      case 'eq':
      case 'ne':
      case 'lt':
      case 'le':
      case 'gt':
      case 'ge': {
        if (name === 'eq') arity(1, Infinity);
        else arity(2);
        const [a, ...b] = all();
        const r = name === 'eq' ? this.eq(a, b) : name === 'ne' ? !this.eq(a, b) : name === 'lt' ? this.lt(a, b[0]) : name === 'le' ? this.lt(a, b[0]) || this.eq(a, b) : name === 'gt' ? !(this.lt(a, b[0]) || this.eq(a, b)) : !this.lt(a, b[0]);
        return bool(r);
      }
      case 'print':
        return str(sprint(all().map((v) => this.anyArg(v))));
      case 'println':
        return str(`${all().map((v) => formatValue(this.anyArg(v))).join(' ')}\n`);
      case 'printf': {
        arity(1, Infinity);
        const [f, ...rest] = all();
        if (f?.kind !== 'string') this.fail(`wrong type for value; expected string; got ${f === undefined ? 'invalid value' : goTypeName(f)}`);
        return str(sprintf(f.v, rest.map((v) => this.anyArg(v)), (why) => this.fail(why)));
      }
      case 'html':
      case 'js':
      case 'urlquery': {
        // Go's evalArgs: what fmt cannot print (a nil) reads as <no value> here.
        const vs = all().map((v) => (v === undefined || v.kind === 'nil' ? str(GO_NO_VALUE) : v));
        const s = vs.length === 1 && vs[0]?.kind === 'string' ? vs[0].v : sprint(vs);
        return str(name === 'html' ? htmlEscape(s) : name === 'js' ? jsEscape(s) : queryEscape(s));
      }
      default:
        return this.fail(`${name} is not supported`);
    }
  }

  private index(args: readonly Val[]): Val {
    let [item, ...indexes] = args;
    if (item === undefined || item.kind === 'nil') this.fail('error calling index: index of untyped nil');
    for (const ix of indexes) {
      if (item?.kind === 'string') {
        if (ix?.kind !== 'int') this.fail(`error calling index: cannot index slice/array with ${ix === undefined ? 'nil' : `type ${goTypeName(ix)}`}`);
        const bytes = Buffer.from(item.v);
        if (ix.v < 0 || ix.v >= bytes.length) this.fail(`error calling index: index out of range: ${ix.v}`);
        item = int(bytes[ix.v] as number, 'uint8');
      } else if (item?.kind === 'map') {
        if (ix?.kind !== 'string') this.fail(`error calling index: value has type ${ix === undefined ? 'nil' : goTypeName(ix)}; should be string`);
        item = str(Object.hasOwn(item.v, ix.v) ? (item.v[ix.v] as string) : '');
      } else this.fail(`error calling index: can't index item of type ${goTypeName(item as Value)}`);
    }
    return item;
  }

  private slice(args: readonly Val[]): Val {
    const [item, ...indexes] = args;
    if (item === undefined || item.kind === 'nil') this.fail('error calling slice: slice of untyped nil');
    if (item.kind !== 'string') this.fail(`error calling slice: can't slice item of type ${goTypeName(item)}`);
    if (indexes.length > 2) this.fail('error calling slice: cannot 3-index slice a string');
    const bytes = Buffer.from(item.v);
    const bounds = indexes.map((ix) => {
      if (ix?.kind !== 'int') this.fail(`error calling slice: cannot index slice/array with ${ix === undefined ? 'nil' : `type ${goTypeName(ix)}`}`);
      if (ix.v < 0 || ix.v > bytes.length) this.fail(`error calling slice: index out of range: ${ix.v}`);
      return ix.v;
    });
    const [i = 0, j = bytes.length] = bounds;
    if (i > j) this.fail(`error calling slice: invalid slice index: ${i} > ${j}`);
    return str(bytes.subarray(i, j).toString());
  }

  /** Go's eq: true if `a` equals any of `bs`. */
  private eq(a: Val, bs: readonly Val[]): boolean {
    if (bs.length === 0) this.fail('error calling eq: missing argument for comparison');
    const k1 = basicKind(a);
    for (const b of bs) {
      const k2 = basicKind(b);
      if (k1 !== k2) {
        if (a !== undefined && b !== undefined) this.fail('error calling eq: incompatible types for comparison');
        continue;
      }
      if (k1 !== 'invalid') {
        if ((a as { v: unknown }).v === (b as { v: unknown }).v) return true;
        continue;
      }
      // Both invalid, maps or nil: equal when both are nil; non-nil maps cannot be compared.
      const isNil = (v: Val) => v === undefined || v.kind === 'nil' || (v.kind === 'map' && v.isNil);
      if (isNil(a) || isNil(b)) {
        if (isNil(a) === isNil(b)) return true;
        continue;
      }
      this.fail('error calling eq: non-comparable type map[string]string');
    }
    return false;
  }

  private lt(a: Val, b: Val): boolean {
    const k1 = basicKind(a);
    const k2 = basicKind(b);
    if (k1 === 'invalid' || k2 === 'invalid') this.fail('error calling lt: invalid type for comparison');
    if (k1 !== k2) this.fail('error calling lt: incompatible types for comparison');
    if (k1 === 'bool') this.fail('error calling lt: invalid type for comparison');
    if (k1 === 'string') return byteCompare((a as { v: string }).v, (b as { v: string }).v) < 0;
    return (a as { v: number }).v < (b as { v: number }).v;
  }
}

/**
 * Executes a parsed template over `vars` like Go's `tmpl.Execute(w, vars)` with `vars` a
 * `map[string]string` (undefined: a nil map).
 * @throws GoTemplateError where Go's execution fails.
 */
export function executeGoTemplate(tpl: GoTemplate, vars: Labels | undefined): string {
  return new Exec(tpl, { kind: 'map', v: vars ?? {}, isNil: vars === undefined }).run();
}

/** The parser: tokens to a {@link GoTemplate}. Follows Go's text/template/parse/parse.go. */

import { numberValue, unquote } from './constants.js';
import { lex, type Tok } from './lex.js';
import type { Arg, Cmd, GoTemplate, Node, Pipe } from './tree.js';
import { bool, GoTemplateError, int, str } from './values.js';

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

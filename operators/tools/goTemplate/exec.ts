/** Execution of a parsed template over a label map. Follows Go's text/template/exec.go and funcs.go. */

import { byteCompare, formatValue, goTypeName, htmlEscape, jsEscape, queryEscape, sprint, sprintf } from './format.js';
import type { Arg, Cmd, Control, GoTemplate, Node, Pipe } from './tree.js';
import { bool, GO_NO_VALUE, GoTemplateError, int, str, type Labels, type Val, type Value } from './values.js';

/** Go's own limit on nested `template` calls (its maxExecDepth). */
const MAX_TEMPLATE_DEPTH = 100000;

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

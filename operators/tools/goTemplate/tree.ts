/**
 * The parsed template: its syntax tree and the templates it defines. Follows Go's
 * text/template/parse/node.go (and template.go for the set of defined templates).
 */

import type { Value } from './values.js';

export type Arg =
  | { readonly t: 'field'; readonly names: readonly string[] }
  | { readonly t: 'dot' }
  | { readonly t: 'var'; readonly name: string; readonly names: readonly string[] }
  | { readonly t: 'ident'; readonly name: string }
  | { readonly t: 'const'; readonly value: Value; readonly text: string }
  | { readonly t: 'nil' }
  | { readonly t: 'pipe'; readonly pipe: Pipe }
  | { readonly t: 'chain'; readonly pipe: Pipe; readonly names: readonly string[] };
export interface Cmd {
  readonly args: readonly Arg[];
}
export interface Pipe {
  readonly decl: readonly string[];
  readonly isAssign: boolean;
  readonly cmds: readonly Cmd[];
}
export interface Control {
  readonly t: 'if' | 'with' | 'range';
  readonly pipe: Pipe;
  readonly list: readonly Node[];
  readonly elseList: readonly Node[];
}
export type Node =
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

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

export { executeGoTemplate } from './goTemplate/exec.js';
export { parseGoTemplate } from './goTemplate/parse.js';
export type { GoTemplate } from './goTemplate/tree.js';
export { GO_NO_VALUE, GoTemplateError } from './goTemplate/values.js';

/**
 * The small part of Go's `text/template` that NSM label selectors use: literal text with field
 * actions over a string map, e.g. `"{{.nodeName}}"` or `"pod-{{ .podName }}-x"`.
 *
 * Supported, with Go's meaning:
 * - `{{.key}}` and `{{ .key }}` (any spaces, tabs or newlines inside the braces), several in a
 *   string, with literal text around them; a key is a Go identifier (letter or `_`, then letters,
 *   digits or `_`);
 * - trim markers `{{- .key }}` / `{{ .key -}}` (the dash needs a space after/before it, as in Go):
 *   they remove the white space of the text right before/after the action;
 * - a key that is not in the map renders `<no value>` (Go's default `missingkey` on a map).
 *
 * Anything else between `{{` and `}}` (pipelines, functions, `{{.}}`, `{{.a.b}}`, comments,
 * variables, numbers) and a `{{` without its `}}` are errors: {@link GoTemplateError} is thrown.
 * The matching code treats such a selector the way upstream treats a template that fails to
 * parse or execute: as a literal string.
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

type Part = { readonly text: string } | { readonly key: string };

const GO_SPACE = /[ \t\r\n]/;
const FIELD = /^[\p{L}_][\p{L}\p{Nd}_]*$/u;

/** Parses a template into text and field parts; throws GoTemplateError outside the subset. */
export function parseGoTemplate(template: string): readonly Part[] {
  const parts: Part[] = [];
  let text = '';
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{{', i);
    if (open < 0) {
      text += template.slice(i);
      break;
    }
    text += template.slice(i, open);
    const close = template.indexOf('}}', open + 2);
    if (close < 0) throw new GoTemplateError(template, 'unclosed action');
    let inner = template.slice(open + 2, close);
    // Left trim marker: "{{- " trims the white space of the text before the action.
    if (inner.length >= 2 && inner[0] === '-' && GO_SPACE.test(inner[1] as string)) {
      text = text.replace(/[ \t\r\n]+$/, '');
      inner = inner.slice(1);
    }
    let trimAfter = false;
    if (inner.length >= 2 && inner.endsWith('-') && GO_SPACE.test(inner[inner.length - 2] as string)) {
      trimAfter = true;
      inner = inner.slice(0, -1);
    }
    const field = inner.trim();
    if (!field.startsWith('.') || !FIELD.test(field.slice(1))) {
      throw new GoTemplateError(template, `unsupported action {{${template.slice(open + 2, close)}}}; only {{.key}} is supported`);
    }
    if (text !== '') parts.push({ text });
    text = '';
    parts.push({ key: field.slice(1) });
    i = close + 2;
    if (trimAfter) while (i < template.length && GO_SPACE.test(template[i] as string)) i++;
  }
  if (text !== '') parts.push({ text });
  return parts;
}

/**
 * Renders `template` over `vars` like Go's `template.Execute(w, vars)` with `vars` a
 * `map[string]string`. Throws {@link GoTemplateError} outside the supported subset.
 */
export function renderGoTemplate(template: string, vars: Readonly<Record<string, string>> | undefined): string {
  if (!template.includes('{{')) return template;
  let out = '';
  for (const part of parseGoTemplate(template)) {
    if ('text' in part) out += part.text;
    else out += vars !== undefined && Object.hasOwn(vars, part.key) ? vars[part.key] : GO_NO_VALUE;
  }
  return out;
}

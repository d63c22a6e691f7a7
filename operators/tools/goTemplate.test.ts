import { describe, expect, it } from 'vitest';
import { GO_NO_VALUE, GoTemplateError, parseGoTemplate, renderGoTemplate } from './goTemplate.js';

const vars = { app: 'fw', nodeName: 'node-1', empty: '', x_1: 'X', ключ: 'v' };

describe('renderGoTemplate', () => {
  // Expected values were produced by Go 1.x text/template executing over a map[string]string.
  it.each([
    ['{{.app}}', 'fw'],
    ['{{ .app }}', 'fw'],
    ['{{\t.app\t}}', 'fw'],
    ['{{\n.app\n}}', 'fw'],
    ['a-{{.app}}-{{.nodeName}}-b', 'a-fw-node-1-b'],
    ['{{ .app}}{{.nodeName }}', 'fwnode-1'],
    ['{{.app}}}', 'fw}'],
    ['plain', 'plain'],
    ['}}', '}}'],
    ['a}}b', 'a}}b'],
    ['{{.empty}}', ''],
    ['{{.x_1}}', 'X'],
    ['{{.ключ}}', 'v'],
    ['{{._}}', '<no value>'],
    ['{{.App}}', '<no value>'],
    ['{{.missing}}', '<no value>'],
    ['x{{.missing}}y', 'x<no value>y'],
    ['a {{- .app -}} b', 'afwb'],
    ['a  {{- .app}}', 'afw'],
    ['{{.app -}}  x', 'fwx'],
    ['a {{.app -}}\n\t b', 'a fwb'],
  ])('%j renders %j as Go does', (template, want) => {
    expect(renderGoTemplate(template, vars)).toBe(want);
  });

  it('renders <no value> for every key when there are no vars at all', () => {
    expect(renderGoTemplate('{{.app}}/{{.x}}', undefined)).toBe(`${GO_NO_VALUE}/${GO_NO_VALUE}`);
    expect(renderGoTemplate('{{.app}}', {})).toBe(GO_NO_VALUE);
  });

  it('does not read inherited properties of the map as keys', () => {
    expect(renderGoTemplate('{{.constructor}}{{.toString}}', {})).toBe(GO_NO_VALUE + GO_NO_VALUE);
  });

  it('a key whose value is a template is not rendered again', () => {
    expect(renderGoTemplate('{{.a}}', { a: '{{.b}}', b: 'x' })).toBe('{{.b}}');
  });

  // Go rejects these when parsing the template.
  it.each(['{{', 'a{{.app', '{{}}', '{{ }}', '{{{.app}}', '{{.a-b}}', '{{.9a}}', '{{.a b}}', '{{ - .app}}', 'a {{-.app}} b'])(
    '%j is a parse error in Go and throws',
    (template) => {
      expect(() => renderGoTemplate(template, vars)).toThrow(GoTemplateError);
    },
  );

  // Valid Go, outside the subset NSM selectors use: rejected rather than half-implemented.
  it.each(['{{.}}', '{{.app.b}}', '{{.missing.b}}', '{{.1}}', '{{.app | printf "%s"}}', '{{/* c */}}', '{{$x := 1}}', '{{app}}', '{{ index . "app" }}'])(
    '%j is outside the supported subset and throws',
    (template) => {
      expect(() => renderGoTemplate(template, vars)).toThrow(/only \{\{\.key\}\} is supported/);
    },
  );

  it('names the template and the reason in the error', () => {
    expect(() => renderGoTemplate('x{{.a', vars)).toThrow('template "x{{.a": unclosed action');
  });
});

describe('parseGoTemplate', () => {
  it('splits text and fields in order', () => {
    expect(parseGoTemplate('a{{.b}}c{{ .d }}')).toEqual([{ text: 'a' }, { key: 'b' }, { text: 'c' }, { key: 'd' }]);
  });

  it('returns one text part for a string without actions and none for an empty string', () => {
    expect(parseGoTemplate('just text')).toEqual([{ text: 'just text' }]);
    expect(parseGoTemplate('')).toEqual([]);
  });
});

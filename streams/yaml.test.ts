import { describe, expect, it } from 'vitest';
import { parseYaml, YamlError } from './yaml.js';

describe('parseYaml (watched config files, on the yaml package)', () => {
  it('reads block sequences of mappings, nested lists at the key’s indentation or deeper, quotes, comments', () => {
    const text = [
      '---',
      '# policies',
      '- from: 172.16.1.101/32',
      '  proto: 6   # tcp',
      '  routes:',
      '  - prefix: "172.16.3.0/24"',
      '    nexthop: 172.16.2.200',
      '  dstport: 6666',
      '- routes:',
      '    - prefix: 10.0.0.0/8',
      '- proto: 17',
      '  routes: []',
      '- {}',
      '- ',
    ].join('\n');
    expect(parseYaml(text)).toEqual([
      { from: '172.16.1.101/32', proto: '6', routes: [{ prefix: '172.16.3.0/24', nexthop: '172.16.2.200' }], dstport: '6666' },
      { routes: [{ prefix: '10.0.0.0/8' }] },
      { proto: '17', routes: [] },
      {},
      null,
    ]);
  });

  it('an empty document is null; a top-level mapping with a flow list', () => {
    expect(parseYaml('# nothing\n')).toBeNull();
    expect(parseYaml('Prefixes: [a, "b"]\nother:\n  x: 1\n')).toEqual({ Prefixes: ['a', 'b'], other: { x: '1' } });
  });

  it('plain keys holding ":" not followed by a space: IPv6 addresses (map-ip’s file)', () => {
    expect(parseYaml('fd00::6: fd00::6\n::1: 10.0.0.1\n"a: b": c\n')).toEqual({ 'fd00::6': 'fd00::6', '::1': '10.0.0.1', 'a: b': 'c' });
    expect(parseYaml('key:value\n')).toBe('key:value');
  });

  it('a second document is ignored, as Go’s yaml.v2 Unmarshal ignores it', () => {
    expect(parseYaml('a: 1\n---\nb: 2')).toEqual({ a: '1' });
  });

  it('every scalar stays text (failsafe schema); plain ~, null and empty are null, quoted ones text; multi-line plain scalars fold', () => {
    expect(parseYaml("a: 6\nb: true\nc: ~\nd: null\ne: ''\nf: 'null'\ng: text\n  more text\n")).toEqual({ a: '6', b: 'true', c: null, d: null, e: '', f: 'null', g: 'text more text' });
    expect(parseYaml('- {a: 1}')).toEqual([{ a: '1' }]);
  });

  it.each([
    ['- a: 1\n\t- b', 2, /Tabs are not allowed/],
    ['a: 1\n  b: 2', 1, /Nested mappings/],
    ['a: 1\na: 2', 2, /Map keys must be unique/],
    ['a: [1, 2', 1, /flow sequence/i],
  ])('refuses %j naming line %i', (text, line, why) => {
    let error: unknown;
    try {
      parseYaml(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(YamlError);
    expect((error as YamlError).line).toBe(line);
    expect((error as Error).message).toMatch(why);
  });
});

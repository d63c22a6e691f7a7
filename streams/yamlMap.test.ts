import { describe, expect, it } from 'vitest';
import { formatStringMap, parseStringMap } from './yamlMap.js';

describe('flat YAML maps', () => {
  it('round-trips, sorting keys and quoting what plain YAML would misread', () => {
    const map = { clusterName: 'cluster1', '10.0.0.5': '34.1.2.3', 'fd00::6': 'fd00::7', flag: 'true', 'a b': 'x: y' };
    const text = formatStringMap(map);
    expect(text).toBe('10.0.0.5: 34.1.2.3\n"a b": "x: y"\nclusterName: cluster1\nfd00::6: fd00::7\nflag: "true"\n');
    expect(parseStringMap(text)).toEqual(map);
  });

  it('an empty document is an empty map; a list is refused; nested values are dropped', () => {
    expect(parseStringMap('')).toEqual({});
    expect(() => parseStringMap('- a')).toThrow(/map/);
    expect(parseStringMap('a: b\nc:\n  d: e\n')).toEqual({ a: 'b' });
  });
});

import { describe, expect, it } from 'vitest';
import { JsonFrames } from './jsonFrames.js';

describe('JsonFrames', () => {
  it('splits concatenated JSON texts however the chunks fall, strings with braces and escapes included', () => {
    const text = '{"id":1,"result":["a{","b]\\"}"]} \n{"id":null,"method":"update","params":[[1],{"x":{}}]}[1,2]';
    for (const size of [1, 2, 7, text.length]) {
      const out: unknown[] = [];
      const frames = new JsonFrames((t) => out.push(JSON.parse(t)));
      for (let i = 0; i < text.length; i += size) frames.push(text.slice(i, i + size));
      expect(out).toEqual([{ id: 1, result: ['a{', 'b]"}'] }, { id: null, method: 'update', params: [[1], { x: {} }] }, [1, 2]]);
    }
  });

  it('refuses what is not a stream of objects', () => {
    expect(() => new JsonFrames(() => undefined).push('x{}')).toThrow(/"x" outside a JSON object/);
    expect(() => new JsonFrames(() => undefined).push('{}}')).toThrow(/unbalanced/);
  });
});

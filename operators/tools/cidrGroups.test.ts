import { describe, expect, it } from 'vitest';
import { parseBracketGroups, parseCidrGroups } from './cidrGroups.js';

describe('parseCidrGroups', () => {
  it('brackets make one group, other items a group each; networks are masked; spaces ignored', () => {
    expect(parseCidrGroups('[172.168.1.0/24], [172.168.1.0/24, 172.168.2.0/24], 172.168.1.0/24, [172.168.1.0/24, 172.168.2.0/24 , 172.168.3.0/24]')).toEqual([
      ['172.168.1.0/24'],
      ['172.168.1.0/24', '172.168.2.0/24'],
      ['172.168.1.0/24'],
      ['172.168.1.0/24', '172.168.2.0/24', '172.168.3.0/24'],
    ]);
    expect(parseCidrGroups('169.254.0.0/16')).toEqual([['169.254.0.0/16']]);
    expect(parseCidrGroups('192.168.3.4/16,2001:DB8::5/116')).toEqual([['192.168.0.0/16'], ['2001:db8::/116']]);
    expect(parseCidrGroups('')).toEqual([]);
    expect(parseCidrGroups('  ')).toEqual([]);
  });

  it('errors name the bad part', () => {
    const c = '172.168.1.0/24';
    expect(() => parseCidrGroups(`[${c}, ${c}], [[${c}],,[${c}]`)).toThrow('unexpected "[" at position 34 of "[172.168.1.0/24,172.168.1.0/24],[[172.168.1.0/24],,[172.168.1.0/24]": groups cannot be nested');
    expect(() => parseCidrGroups(`[${c}, ${c}`)).toThrow('group opened with "[" is not closed');
    expect(() => parseCidrGroups(`[${c}, ${c}],`)).toThrow('empty item after the last ","');
    expect(() => parseCidrGroups(`[${c}, ${c}][${c}]`)).toThrow('expected "," after "]"');
    expect(() => parseCidrGroups(`[${c}, ${c}],[]`)).toThrow('empty group');
    expect(() => parseCidrGroups(`[${c},, ${c}]`)).toThrow('empty item at position 17');
    expect(() => parseCidrGroups('[172.168.1./24]')).toThrow('"172.168.1./24" is not a CIDR');
    expect(() => parseCidrGroups(`${c}]`)).toThrow('no group is open');
    expect(() => parseCidrGroups(`${c}[10.0.0.0/8]`)).toThrow('expected "," between items');
    expect(() => parseCidrGroups(',')).toThrow('empty item');
  });

  it('parseBracketGroups works for any item (e.g. NSM_AWARENESS_GROUPS URLs)', () => {
    expect(parseBracketGroups('[kernel://a?x=1,kernel://b],kernel://c', (s) => s)).toEqual([['kernel://a?x=1', 'kernel://b'], ['kernel://c']]);
  });
});

import { cidrNetwork, formatCidr, parseCidr } from './cidr.js';

/**
 * Splits `[a,b],c,[d]` into groups: items in brackets form one group, every other item is a
 * group of its own. Whitespace is ignored. `parseItem` turns one item into a value (and throws
 * with a message about that item). '' → [] (upstream accepts an empty value).
 *
 * @throws Error naming the bad part and its position.
 */
export function parseBracketGroups<T>(input: string, parseItem: (item: string) => T): T[][] {
  const s = input.replace(/\s+/g, '');
  if (s === '') return [];
  const groups: T[][] = [];
  let current: T[] | undefined; // the open bracket group
  let i = 0;
  const where = (at: number) => `at position ${at + 1} of ${JSON.stringify(s)}`;
  while (i < s.length) {
    let ch = s[i];
    if (ch === '[') {
      if (current !== undefined) throw new Error(`unexpected "[" ${where(i)}: groups cannot be nested`);
      current = [];
      i++;
      ch = s[i];
    }
    if (ch === '[') throw new Error(`unexpected "[" ${where(i)}: groups cannot be nested`);
    if (ch === ']') throw new Error(`unexpected "]" ${where(i)}: ${current === undefined ? 'no group is open' : 'empty group'}`);
    // An item runs to the next separator.
    let j = i;
    while (j < s.length && s[j] !== ',' && s[j] !== '[' && s[j] !== ']') j++;
    const item = s.slice(i, j);
    if (item === '') throw new Error(`empty item ${where(i)}`);
    if (s[j] === '[') throw new Error(`unexpected "[" ${where(j)}: expected "," between items`);
    const value = parseItem(item);
    if (current !== undefined) current.push(value);
    else groups.push([value]);
    i = j;
    if (s[i] === ']') {
      if (current === undefined) throw new Error(`unexpected "]" ${where(i)}: no group is open`);
      groups.push(current);
      current = undefined;
      i++;
      if (i < s.length && s[i] !== ',') throw new Error(`unexpected ${JSON.stringify(s[i])} ${where(i)}: expected "," after "]"`);
    }
    if (s[i] === ',') {
      i++;
      if (i === s.length) throw new Error(`empty item after the last "," ${where(i - 1)}`);
    }
  }
  if (current !== undefined) throw new Error(`group opened with "[" is not closed in ${JSON.stringify(s)}`);
  return groups;
}

/**
 * Parses NSM_CIDR_PREFIX: `[a,b],c` → [[a, b], [c]], each CIDR masked to its network in
 * canonical form (upstream cidr.Groups). `172.16.1.100/31,2001:db8::/116` is two groups: dual stack.
 *
 * @throws Error naming the bad part, e.g. `"172.168.1./24" is not a CIDR …`.
 */
export function parseCidrGroups(input: string): string[][] {
  return parseBracketGroups(input, (item) => formatCidr(cidrNetwork(parseCidr(item))));
}

/**
 * IPv4/IPv6 addresses, CIDRs and address pools, as the IPAM and excluded-prefixes elements need
 * them. Addresses are bigints (one representation for both families; a v4 address is its 32-bit
 * value, not the v4-mapped v6 form), tagged with their family.
 *
 * Parsing follows Go (`net.ParseCIDR` / `netip.ParseAddr`), so a value upstream accepts is
 * accepted here and vice versa: dotted-quad IPv4 without leading zeros, RFC 4291 IPv6 text
 * (with `::` and an optional trailing dotted quad), no zones, prefix lengths in decimal.
 * Formatting is canonical: RFC 5952 for IPv6 (lower case, longest run of two or more zero
 * groups compressed, the first on a tie), as Go's `net.IP.String()` prints it. One difference: a
 * v4-mapped IPv6 address prints as `::ffff:1.2.3.4` (as Go's `netip.Addr` does) rather than
 * `1.2.3.4` (as the older `net.IP` does), so its family survives a round trip.
 */

export type IpFamily = 4 | 6;

export interface IpAddress {
  readonly family: IpFamily;
  readonly value: bigint;
}

/** A CIDR as written: `address` keeps its host bits (Go's ParseCIDR ip); see `cidrNetwork`. */
export interface Cidr {
  readonly family: IpFamily;
  readonly address: bigint;
  readonly prefixLength: number;
}

/** An inclusive range of addresses of one family. */
export interface IpRange {
  readonly start: bigint;
  readonly end: bigint;
}

export const bitsOf = (family: IpFamily): number => (family === 4 ? 32 : 128);
const maxOf = (family: IpFamily): bigint => (family === 4 ? 0xffff_ffffn : (1n << 128n) - 1n);

// ---------------------------------------------------------------------------------------------
// Parsing

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    // Go rejects leading zeros (they used to mean octal) and anything but digits.
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | undefined {
  if (s.includes('%')) return undefined; // zones are not addresses
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string, isLast: boolean): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as string;
      if (isLast && i === items.length - 1 && item.includes('.')) {
        const v4 = parseV4(item);
        if (v4 === undefined) return undefined;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return undefined;
        out.push(parseInt(item, 16));
      }
    }
    return out;
  };
  let groups: number[];
  if (halves.length === 1) {
    const all = groupsOf(s, true);
    if (all === undefined || all.length !== 8) return undefined;
    groups = all;
  } else {
    const head = groupsOf(halves[0] as string, false);
    const tail = groupsOf(halves[1] as string, true);
    // `::` stands for at least one zero group.
    if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

/** Parses an IP address; undefined if it is not one. */
export function tryParseIp(s: string): IpAddress | undefined {
  if (s.includes(':')) {
    const value = parseV6(s);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseV4(s);
  return value === undefined ? undefined : { family: 4, value };
}

/** @throws Error naming the bad value. */
export function parseIp(s: string): IpAddress {
  const ip = tryParseIp(s);
  if (ip === undefined) throw new Error(`${JSON.stringify(s)} is not an IP address`);
  return ip;
}

/** Parses `address/length`; undefined if it is not a CIDR. */
export function tryParseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = tryParseIp(s.slice(0, slash));
  const len = s.slice(slash + 1);
  if (ip === undefined || !/^\d{1,3}$/.test(len)) return undefined;
  const prefixLength = Number(len);
  if (prefixLength > bitsOf(ip.family)) return undefined;
  return { family: ip.family, address: ip.value, prefixLength };
}

/** @throws Error naming the bad value and the expected form. */
export function parseCidr(s: string): Cidr {
  const c = tryParseCidr(s);
  if (c === undefined) throw new Error(`${JSON.stringify(s)} is not a CIDR (expected address/prefix-length, e.g. 169.254.0.0/16 or 2001:db8::/116)`);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Formatting

function formatV4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((v >> shift) & 0xffn)).join('.');
}

function formatV6(v: bigint): string {
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((v >> shift) & 0xffffn));
  // v4-mapped (::ffff:a.b.c.d): dotted tail, as netip prints it.
  if (v >> 32n === 0xffffn) return `::ffff:${formatV4(v & 0xffff_ffffn)}`;
  // The longest run of two or more zero groups becomes "::" (the first one on a tie).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

export function formatAddress(family: IpFamily, value: bigint): string {
  return family === 4 ? formatV4(value) : formatV6(value);
}

export function formatIp(ip: IpAddress): string {
  return formatAddress(ip.family, ip.value);
}

/** `address/length` with the address as given (host bits kept). */
export function formatCidr(c: Cidr): string {
  return `${formatAddress(c.family, c.address)}/${c.prefixLength}`;
}

/** Parses and prints a CIDR in canonical form, masked to its network (`10.1.2.3/8` → `10.0.0.0/8`). */
export function canonicalNetwork(s: string): string {
  return formatCidr(cidrNetwork(parseCidr(s)));
}

// ---------------------------------------------------------------------------------------------
// Arithmetic

const hostMask = (c: Cidr): bigint => (1n << BigInt(bitsOf(c.family) - c.prefixLength)) - 1n;

/** First address of the CIDR's network. */
export function cidrFirst(c: Cidr): bigint {
  return c.address & ~hostMask(c) & maxOf(c.family);
}

/** Last address of the CIDR's network. */
export function cidrLast(c: Cidr): bigint {
  return cidrFirst(c) | hostMask(c);
}

export function cidrRange(c: Cidr): IpRange {
  return { start: cidrFirst(c), end: cidrLast(c) };
}

/** The CIDR masked to its network (Go's `ipNet` from ParseCIDR). */
export function cidrNetwork(c: Cidr): Cidr {
  return { family: c.family, address: cidrFirst(c), prefixLength: c.prefixLength };
}

/** The single-address CIDR of `ip` (/32 or /128). */
export function hostCidr(ip: IpAddress): Cidr {
  return { family: ip.family, address: ip.value, prefixLength: bitsOf(ip.family) };
}

export function isHostCidr(c: Cidr): boolean {
  return c.prefixLength === bitsOf(c.family);
}

export function cidrContains(c: Cidr, ip: IpAddress): boolean {
  return c.family === ip.family && ip.value >= cidrFirst(c) && ip.value <= cidrLast(c);
}

/** Every address of `inner` is in `outer`. */
export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && cidrFirst(inner) >= cidrFirst(outer) && cidrLast(inner) <= cidrLast(outer);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && cidrFirst(a) <= cidrLast(b) && cidrFirst(b) <= cidrLast(a);
}

/** The fewest CIDRs that cover exactly `start..end` (inclusive), lowest first. */
export function rangeToCidrs(family: IpFamily, start: bigint, end: bigint): Cidr[] {
  const bits = bitsOf(family);
  const out: Cidr[] = [];
  let s = start;
  while (s <= end) {
    // The largest aligned block starting at s that does not pass end.
    let size = 0;
    while (size < bits && (s & ((1n << BigInt(size + 1)) - 1n)) === 0n && s + (1n << BigInt(size + 1)) - 1n <= end) size++;
    out.push({ family, address: s, prefixLength: bits - size });
    s += 1n << BigInt(size);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pools

type AddressLike = Cidr | IpAddress | string;

const toRange = (family: IpFamily, x: AddressLike, what: string): IpRange => {
  let fam: IpFamily;
  let range: IpRange;
  if (typeof x === 'string') {
    const c = x.includes('/') ? parseCidr(x) : hostCidr(parseIp(x));
    fam = c.family;
    range = cidrRange(c);
  } else if ('prefixLength' in x) {
    fam = x.family;
    range = cidrRange(x);
  } else {
    fam = x.family;
    range = { start: x.value, end: x.value };
  }
  if (fam !== family) throw new Error(`${what}: an IPv${fam} value in an IPv${family} pool`);
  return range;
};

/**
 * A set of addresses of one family kept as sorted, disjoint, non-adjacent ranges (upstream's
 * ippool is a red–black tree of the same ranges). Adding a /16 and excluding thousands of
 * single addresses stays a few thousand ranges; lookups are binary searches, and picking the
 * lowest free address that avoids another pool walks ranges, never single addresses.
 */
export class IpPool {
  /** Sorted by start; ranges never overlap or touch (touching ones are merged). */
  private ranges: IpRange[] = [];

  constructor(readonly family: IpFamily) {}

  /** A pool holding the networks of `cidrs` (strings or parsed). */
  static of(family: IpFamily, cidrs: Iterable<AddressLike>): IpPool {
    const pool = new IpPool(family);
    for (const c of cidrs) pool.add(c);
    return pool;
  }

  clone(): IpPool {
    const copy = new IpPool(this.family);
    copy.ranges = this.ranges.slice();
    return copy;
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  /** How many addresses the pool holds. */
  get size(): bigint {
    let n = 0n;
    for (const r of this.ranges) n += r.end - r.start + 1n;
    return n;
  }

  /** The pool's ranges, lowest first. */
  toRanges(): readonly IpRange[] {
    return this.ranges.slice();
  }

  /** The fewest CIDRs covering the pool, lowest first (upstream GetPrefixes). */
  prefixes(): string[] {
    return this.ranges.flatMap((r) => rangeToCidrs(this.family, r.start, r.end).map(formatCidr));
  }

  /** Index of the first range whose end is ≥ x (ranges.length if none). */
  private firstEndingAtOrAfter(x: bigint): number {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.ranges[mid] as IpRange).end < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the last range whose start is ≤ x (-1 if none). */
  private lastStartingAtOrBefore(x: bigint): number {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.ranges[mid] as IpRange).start <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** The range holding `x`, if any. */
  private rangeAt(x: bigint): IpRange | undefined {
    const r = this.ranges[this.firstEndingAtOrAfter(x)];
    return r !== undefined && r.start <= x ? r : undefined;
  }

  addRange(start: bigint, end: bigint): this {
    if (start > end) return this;
    // Every range that overlaps or touches [start, end] merges into one.
    const i = this.firstEndingAtOrAfter(start === 0n ? 0n : start - 1n);
    const j = this.lastStartingAtOrBefore(end + 1n);
    if (i > j) {
      this.ranges.splice(i, 0, { start, end });
    } else {
      const first = this.ranges[i] as IpRange;
      const last = this.ranges[j] as IpRange;
      this.ranges.splice(i, j - i + 1, { start: first.start < start ? first.start : start, end: last.end > end ? last.end : end });
    }
    return this;
  }

  removeRange(start: bigint, end: bigint): this {
    if (start > end) return this;
    const i = this.firstEndingAtOrAfter(start);
    const j = this.lastStartingAtOrBefore(end);
    if (i > j) return this;
    const first = this.ranges[i] as IpRange;
    const last = this.ranges[j] as IpRange;
    const keep: IpRange[] = [];
    if (first.start < start) keep.push({ start: first.start, end: start - 1n });
    if (last.end > end) keep.push({ start: end + 1n, end: last.end });
    this.ranges.splice(i, j - i + 1, ...keep);
    return this;
  }

  /** Adds a CIDR's whole network, or one address. @throws on a value of the other family or a bad string. */
  add(x: AddressLike): this {
    const r = toRange(this.family, x, 'add');
    return this.addRange(r.start, r.end);
  }

  /** Removes a CIDR's whole network, or one address. @throws on a value of the other family or a bad string. */
  exclude(x: AddressLike): this {
    const r = toRange(this.family, x, 'exclude');
    return this.removeRange(r.start, r.end);
  }

  /** Removes every address of `other` (same family). */
  excludePool(other: IpPool): this {
    if (other.family !== this.family) throw new Error(`exclude: an IPv${other.family} pool from an IPv${this.family} pool`);
    for (const r of other.ranges) this.removeRange(r.start, r.end);
    return this;
  }

  /** The address is in the pool (false for the other family). */
  has(ip: IpAddress): boolean {
    return ip.family === this.family && this.rangeAt(ip.value) !== undefined;
  }

  /** Every address of the CIDR's network is in the pool. */
  containsCidr(c: Cidr): boolean {
    if (c.family !== this.family) return false;
    const r = this.rangeAt(cidrFirst(c));
    return r !== undefined && r.end >= cidrLast(c);
  }

  /** Some address of the CIDR's network is in the pool. */
  overlaps(c: Cidr): boolean {
    if (c.family !== this.family) return false;
    const r = this.ranges[this.firstEndingAtOrAfter(cidrFirst(c))];
    return r !== undefined && r.start <= cidrLast(c);
  }

  /**
   * The `count` lowest addresses of the pool from `from` on that are not in `avoid`; when there
   * are not that many, the `count` lowest of all (next fit, wrapping; fewer if the pool has not
   * that many). Without taking them.
   */
  lowestFree(count: number, avoid?: IpPool, from = 0n): IpAddress[] {
    if (avoid !== undefined && avoid.family !== this.family) avoid = undefined;
    const scan = (lo: bigint): IpAddress[] => {
      const out: IpAddress[] = [];
      for (const r of this.ranges) {
        let candidate = r.start > lo ? r.start : lo;
        while (candidate <= r.end && out.length < count) {
          const blocked = avoid?.rangeAt(candidate);
          if (blocked !== undefined) {
            candidate = blocked.end + 1n;
            continue;
          }
          out.push({ family: this.family, value: candidate });
          candidate++;
        }
        if (out.length >= count) break;
      }
      return out;
    };
    const above = scan(from);
    return above.length >= count || from === 0n ? above : scan(0n);
  }

  /** Takes the lowest address (undefined when empty). */
  pull(): IpAddress | undefined {
    const first = this.ranges[0];
    if (first === undefined) return undefined;
    if (first.start === first.end) this.ranges.shift();
    else this.ranges[0] = { start: first.start + 1n, end: first.end };
    return { family: this.family, value: first.start };
  }

  /** Takes `ip` if it is in the pool; says whether it was. */
  pullAddress(ip: IpAddress): boolean {
    if (!this.has(ip)) return false;
    this.removeRange(ip.value, ip.value);
    return true;
  }

  /** Gives an address back (a no-op if it is already there). */
  release(ip: IpAddress): this {
    if (ip.family !== this.family) throw new Error(`release: an IPv${ip.family} address to an IPv${this.family} pool`);
    return this.addRange(ip.value, ip.value);
  }
}

/** Two pools, one per family, behind one interface: values are routed by their family. */
export class DualStackPool {
  readonly v4 = new IpPool(4);
  readonly v6 = new IpPool(6);

  /** A pool of the networks of the CIDRs that parse; the others are returned in `invalid`. */
  static fromCidrs(cidrs: Iterable<string>): { pool: DualStackPool; invalid: string[] } {
    const pool = new DualStackPool();
    const invalid: string[] = [];
    for (const s of cidrs) {
      const c = tryParseCidr(s);
      if (c === undefined) invalid.push(s);
      else pool.add(c);
    }
    return { pool, invalid };
  }

  of(family: IpFamily): IpPool {
    return family === 4 ? this.v4 : this.v6;
  }

  add(c: Cidr | IpAddress): this {
    this.of(c.family).add(c);
    return this;
  }

  exclude(c: Cidr | IpAddress): this {
    this.of(c.family).exclude(c);
    return this;
  }

  has(ip: IpAddress): boolean {
    return this.of(ip.family).has(ip);
  }

  overlaps(c: Cidr): boolean {
    return this.of(c.family).overlaps(c);
  }

  get isEmpty(): boolean {
    return this.v4.isEmpty && this.v6.isEmpty;
  }

  /** The fewest CIDRs covering the pool: IPv4 first, then IPv6 (upstream's prefixpool order). */
  prefixes(): string[] {
    return [...this.v4.prefixes(), ...this.v6.prefixes()];
  }
}

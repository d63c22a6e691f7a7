import { bitsOf, cidrFirst, cidrLast, cidrNetwork, formatCidr, IpPool, tryParseCidr, type Cidr } from './cidr.js';

/**
 * The vl3 prefix pool (upstream vl3ipam's pool): blocks of one prefix length carved out of a
 * larger prefix, one per vl3 NSE. Throws (naming both) when the block length does not fit the pool.
 */
export class PrefixPool {
  private readonly free: IpPool;
  private readonly pool: Cidr;

  constructor(
    readonly prefix: string,
    readonly blockLength: number,
  ) {
    const parsed = tryParseCidr(prefix);
    if (parsed === undefined) throw new Error(`"${prefix}" is not a CIDR`);
    const pool = cidrNetwork(parsed);
    if (!Number.isInteger(blockLength) || blockLength < pool.prefixLength || blockLength > bitsOf(pool.family)) {
      throw new Error(`a /${blockLength} block does not fit in ${prefix}: expected ${pool.prefixLength} to ${bitsOf(pool.family)}`);
    }
    this.pool = pool;
    this.free = IpPool.of(pool.family, [pool]);
  }

  /**
   * `requested` when all of it is free (an NSE keeping its prefix across a reconnect or a server
   * restart), else the lowest free aligned block outside `excluded`; undefined when there is none.
   * Throws (naming it) on a value that is not a CIDR.
   */
  allocate(requested: string, excluded: readonly string[]): string | undefined {
    const wanted = requested === '' ? undefined : this.parse(requested, 'prefix');
    if (wanted?.family === this.pool.family && this.free.containsCidr(wanted)) return this.take(wanted);
    const candidates = this.free.clone();
    // The other family's prefixes exclude nothing here.
    for (const [i, e] of excluded.entries()) {
      const c = this.parse(e, `exclude_prefixes[${i}]`);
      if (c.family === this.pool.family) candidates.exclude(c);
    }
    const size = 1n << BigInt(bitsOf(this.pool.family) - this.blockLength);
    for (const r of candidates.toRanges()) {
      const start = ((r.start + size - 1n) / size) * size;
      if (start + size - 1n <= r.end) return this.take({ family: this.pool.family, address: start, prefixLength: this.blockLength });
    }
    return undefined;
  }

  /** Gives a prefix this pool handed out back. */
  release(prefix: string): void {
    const c = tryParseCidr(prefix);
    if (c !== undefined && c.family === this.pool.family && cidrFirst(c) >= cidrFirst(this.pool) && cidrLast(c) <= cidrLast(this.pool)) this.free.add(c);
  }

  private take(c: Cidr): string {
    this.free.exclude(c);
    return formatCidr(c);
  }

  private parse(s: string, field: string): Cidr {
    const c = tryParseCidr(s);
    if (c === undefined) throw new Error(`${field} "${s}" is not a CIDR`);
    return cidrNetwork(c);
  }
}

/**
 * A map that holds at most `capacity` entries: setting one more forgets the entry read or set
 * least recently. For caches of values that are cheap to remake but read several times in a row
 * (a token decoded by each policy of a Request), whose keys never repeat for long (tokens are
 * re-signed at every refresh), so that a cleared-when-full map would hold thousands of dead keys.
 */
export class RecentlyUsed<K, V> {
  // A Map iterates in insertion order: re-inserting on every read keeps the least recent first.
  private readonly entries = new Map<K, V>();

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new Error(`RecentlyUsed needs a capacity of at least 1, got ${capacity}`);
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as K);
  }
}

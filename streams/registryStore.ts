import { Observable, Subject } from 'rxjs';

/** One entry of a watch: an item as stored (or as it was when removed, with `deleted`). */
export interface StoreChange<T> {
  readonly item: T;
  readonly deleted: boolean;
}

/**
 * Registry state as streams (the memory registry's map and its event fan-out): items keyed by
 * name, plus ONE shared stream of changes that every watcher filters with its own predicate.
 * A watcher holds only its subscription to that stream, not a copy of the store, so an
 * unsubscribed watcher costs nothing.
 *
 * Everything handed out is a copy (`clone`), so neither a caller of `put` nor a watcher can
 * change what the store holds, and watchers cannot change what other watchers see.
 * Changes are delivered synchronously, in the order they were made.
 */
export class RegistryStore<T> {
  private readonly items = new Map<string, T>();
  private readonly changes = new Subject<StoreChange<T>>();
  private watchers = 0;

  constructor(
    private readonly nameOf: (item: T) => string,
    private readonly clone: (item: T) => T,
  ) {}

  /** Stores (adds or replaces) a copy of `item` under its name, tells watchers, returns a copy. */
  put(item: T): T {
    const stored = this.clone(item);
    this.items.set(this.nameOf(stored), stored);
    this.changes.next({ item: stored, deleted: false });
    return this.clone(stored);
  }

  /** Removes `name`; watchers hear the removed item with `deleted`. Unknown names: no-op, undefined. */
  delete(name: string): T | undefined {
    const removed = this.items.get(name);
    if (removed === undefined) return undefined;
    this.items.delete(name);
    this.changes.next({ item: removed, deleted: true });
    return this.clone(removed);
  }

  get(name: string): T | undefined {
    const item = this.items.get(name);
    return item === undefined ? undefined : this.clone(item);
  }

  get size(): number {
    return this.items.size;
  }

  /** Number of live watch subscriptions (leak checks). */
  get watcherCount(): number {
    return this.watchers;
  }

  /** Copies of all items, in insertion order. */
  snapshot(): T[] {
    return [...this.items.values()].map((i) => this.clone(i));
  }

  /**
   * The items matching `predicate` now (each `deleted: false`), then, if `watch`, every later
   * matching change until unsubscribed (`deleted: true` on removal); without `watch` it completes
   * after the current matches. The predicate sees whether the change is a removal, and runs when
   * the change is delivered (so it may depend on the time). A change made while the current matches are being delivered (by
   * a subscriber reacting to them) is delivered after them, never lost.
   */
  watch(predicate: (item: T, deleted: boolean) => boolean, watch: boolean): Observable<StoreChange<T>> {
    return new Observable<StoreChange<T>>((subscriber) => {
      const current = [...this.items.values()].filter((i) => predicate(i, false));
      if (!watch) {
        for (const item of current) {
          if (subscriber.closed) return;
          subscriber.next({ item: this.clone(item), deleted: false });
        }
        subscriber.complete();
        return;
      }
      // Listen first, hold back what arrives while the current matches go out, then drain.
      let backlog: StoreChange<T>[] | undefined = [];
      let ended = false;
      const deliver = (change: StoreChange<T>): void => {
        let wanted: boolean;
        try {
          wanted = predicate(change.item, change.deleted);
        } catch (err) {
          subscriber.error(err);
          return;
        }
        if (wanted) subscriber.next({ item: this.clone(change.item), deleted: change.deleted });
      };
      this.watchers++;
      const subscription = this.changes.subscribe({
        next: (change) => (backlog ? backlog.push(change) : deliver(change)),
        complete: () => (backlog ? (ended = true) : subscriber.complete()),
      });
      subscription.add(() => this.watchers--);
      for (const item of current) {
        if (subscriber.closed) break;
        subscriber.next({ item: this.clone(item), deleted: false });
      }
      for (let i = 0; i < backlog.length && !subscriber.closed; i++) deliver(backlog[i] as StoreChange<T>);
      backlog = undefined;
      if (ended) subscriber.complete();
      return subscription;
    });
  }

  /** Ends every watch (server stop). Later watches with `watch` complete after the current matches. */
  complete(): void {
    this.changes.complete();
  }
}

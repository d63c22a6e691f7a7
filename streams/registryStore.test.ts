import { take } from 'rxjs/operators';
import { describe, expect, it } from 'vitest';
import { RegistryStore, type StoreChange } from './registryStore.js';
import { marbles } from '../test/marbles.js';

interface Item {
  name: string;
  v: number;
  tags: string[];
}

function newStore() {
  let clones = 0;
  const store = new RegistryStore<Item>(
    (i) => i.name,
    (i) => {
      clones++;
      return { name: i.name, v: i.v, tags: [...i.tags] };
    },
  );
  return { store, clones: () => clones };
}

const item = (name: string, v = 0, tags: string[] = []): Item => ({ name, v, tags });
const all = () => true;
const collect = <T>(store: RegistryStore<T>, predicate: (i: T, deleted: boolean) => boolean, watch: boolean) => {
  const seen: StoreChange<T>[] = [];
  let completed = false;
  const subscription = store.watch(predicate, watch).subscribe({ next: (c) => seen.push(c), complete: () => (completed = true) });
  return { seen, subscription, completed: () => completed };
};

describe('RegistryStore: keyed state', () => {
  it('put adds or replaces by name; get, size and snapshot see the latest', () => {
    const { store } = newStore();
    store.put(item('a', 1));
    store.put(item('b', 2));
    store.put(item('a', 3));
    expect(store.size).toBe(2);
    expect(store.get('a')).toEqual(item('a', 3));
    expect(store.get('zzz')).toBeUndefined();
    expect(store.snapshot()).toEqual([item('a', 3), item('b', 2)]);
  });

  it('delete removes and returns the removed item; an unknown name is a no-op', () => {
    const { store } = newStore();
    store.put(item('a', 1));
    const w = collect(store, all, true);
    expect(store.delete('nope')).toBeUndefined();
    expect(w.seen).toHaveLength(1); // only the current 'a', no event for the unknown name
    expect(store.delete('a')).toEqual(item('a', 1));
    expect(store.size).toBe(0);
    expect(store.get('a')).toBeUndefined();
    expect(store.delete('a')).toBeUndefined();
    expect(w.seen).toEqual([
      { item: item('a', 1), deleted: false },
      { item: item('a', 1), deleted: true },
    ]);
  });

  it('keeps its own copies: changing what was put, got, snapshotted or watched does not change the store', () => {
    const { store } = newStore();
    const original = item('a', 1, ['x']);
    const returned = store.put(original);
    original.tags.push('mutated-input');
    returned.tags.push('mutated-return');
    store.get('a')?.tags.push('mutated-get');
    store.snapshot()[0]?.tags.push('mutated-snapshot');
    store.watch(all, false).subscribe((c) => c.item.tags.push('mutated-watch'));
    expect(store.get('a')).toEqual(item('a', 1, ['x']));
  });

  it('each watcher gets its own copy of a change', () => {
    const { store } = newStore();
    const first = collect(store, all, true);
    store.watch(all, true).subscribe((c) => c.item.tags.push('second watcher was here'));
    const third = collect(store, all, true);
    store.put(item('a', 1, ['x']));
    expect(first.seen[0]?.item.tags).toEqual(['x']);
    expect(third.seen[0]?.item.tags).toEqual(['x']);
    expect(first.seen[0]?.item).not.toBe(third.seen[0]?.item);
  });
});

describe('RegistryStore.watch', () => {
  it('watch=false: the current matches, then completes; later changes are not seen', () => {
    const { store } = newStore();
    store.put(item('a', 1));
    store.put(item('b', 2));
    store.put(item('c', 3));
    const w = collect(store, (i) => i.v !== 2, false);
    expect(w.completed()).toBe(true);
    expect(w.seen).toEqual([
      { item: item('a', 1), deleted: false },
      { item: item('c', 3), deleted: false },
    ]);
    store.put(item('d', 4));
    expect(w.seen).toHaveLength(2);
    expect(store.watcherCount).toBe(0);
  });

  it('watch=false on an empty store completes at once with nothing', () => {
    const { store } = newStore();
    const w = collect(store, all, false);
    expect(w.seen).toEqual([]);
    expect(w.completed()).toBe(true);
  });

  it('watch=true: current matches, then every later matching change in order, deleted on removal (marble)', () => {
    marbles(({ expectObservable }, scheduler) => {
      const { store } = newStore();
      store.put(item('a', 1));
      store.put(item('skip', 100));
      const at = (t: number, f: () => void) => scheduler.schedule(f, t);
      at(2, () => store.put(item('b', 2)));
      at(3, () => store.put(item('big', 200))); // does not match
      at(4, () => store.put(item('a', 5))); // update of a
      at(6, () => store.delete('a'));
      at(7, () => store.delete('skip')); // removal of a non-matching item: not seen
      at(8, () => store.put(item('a', 9))); // re-added
      expectObservable(store.watch((i) => i.v < 100, true), '^ 9ms !').toBe('a-b-c-d-e', {
        a: { item: item('a', 1), deleted: false },
        b: { item: item('b', 2), deleted: false },
        c: { item: item('a', 5), deleted: false },
        d: { item: item('a', 5), deleted: true },
        e: { item: item('a', 9), deleted: false },
      });
    });
  });

  it('a change that makes an item stop matching is simply not sent (upstream memory: no synthetic delete)', () => {
    const { store } = newStore();
    store.put(item('a', 1));
    const w = collect(store, (i) => i.v < 10, true);
    store.put(item('a', 50));
    store.delete('a'); // the removed item no longer matches either
    expect(w.seen).toEqual([{ item: item('a', 1), deleted: false }]);
  });

  it('watchers that subscribe at different times see the state at their own subscription (marble)', () => {
    marbles(({ expectObservable }, scheduler) => {
      const { store } = newStore();
      scheduler.schedule(() => store.put(item('a', 1)), 1);
      scheduler.schedule(() => store.put(item('b', 2)), 3);
      const a = { item: item('a', 1), deleted: false };
      const b = { item: item('b', 2), deleted: false };
      expectObservable(store.watch(all, true), '^ 5ms !').toBe('-a-b--', { a, b });
      expectObservable(store.watch(all, true), '--^ 3ms !').toBe('--ab--', { a, b });
      expectObservable(store.watch(all, true), '----^ 1ms !').toBe('----(ab)', { a, b });
      // a non-watch Find at t=2 sees only a and ends there
      expectObservable(store.watch(all, false), '--^').toBe('--(a|)', { a });
    });
  });

  it('the predicate is told whether a change is a removal (current items are not)', () => {
    const { store } = newStore();
    store.put(item('a', 1));
    const calls: [string, boolean][] = [];
    const w = collect(store, (i, deleted) => (calls.push([i.name, deleted]), deleted), true);
    store.put(item('b', 2));
    store.delete('a');
    expect(calls).toEqual([
      ['a', false],
      ['b', false],
      ['a', true],
    ]);
    expect(w.seen).toEqual([{ item: item('a', 1), deleted: true }]);
  });

  it('unsubscribing stops delivery and leaves no watcher behind', () => {
    const { store } = newStore();
    const w1 = collect(store, all, true);
    const w2 = collect(store, all, true);
    expect(store.watcherCount).toBe(2);
    w1.subscription.unsubscribe();
    expect(store.watcherCount).toBe(1);
    store.put(item('a', 1));
    expect(w1.seen).toEqual([]);
    expect(w2.seen).toHaveLength(1);
    w2.subscription.unsubscribe();
    expect(store.watcherCount).toBe(0);
  });

  it('a watcher that stops while the current matches go out (take) is released at once', () => {
    const { store } = newStore();
    for (const n of ['a', 'b', 'c']) store.put(item(n));
    const seen: string[] = [];
    store
      .watch(all, true)
      .pipe(take(2))
      .subscribe((c) => seen.push(c.item.name));
    expect(seen).toEqual(['a', 'b']);
    expect(store.watcherCount).toBe(0);
  });

  it('all watchers filter one shared change stream: a change copies the item only for the watchers it matches', () => {
    const { store, clones } = newStore();
    for (let i = 0; i < 100; i++) store.put(item(`n${i}`, i));
    const watchers = Array.from({ length: 10 }, (_, i) => collect(store, (x) => x.name === `n${i}`, true));
    const before = clones();
    store.put(item('n5', 500));
    // one copy to store, one to return, one for the single matching watcher — nothing per store entry or other watcher
    expect(clones() - before).toBe(3);
    expect(watchers[5]?.seen.at(-1)).toEqual({ item: item('n5', 500), deleted: false });
    expect(watchers.filter((w) => w.seen.length === 2)).toHaveLength(1);
  });

  it('a change made by a subscriber while it receives the current matches comes after them, not lost', () => {
    const { store } = newStore();
    store.put(item('a', 1));
    store.put(item('b', 2));
    const seen: string[] = [];
    store.watch(all, true).subscribe((c) => {
      seen.push(`${c.deleted ? '-' : '+'}${c.item.name}${c.item.v}`);
      if (!c.deleted && c.item.name === 'a') store.put(item('c', 3));
      if (c.item.name === 'c') store.delete('a');
    });
    expect(seen).toEqual(['+a1', '+b2', '+c3', '-a1']);
  });

  it('a predicate that throws fails only that watcher', () => {
    const { store } = newStore();
    const errors: unknown[] = [];
    store.watch((i) => {
      if (i.name === 'boom') throw new Error('bad predicate');
      return true;
    }, true).subscribe({ error: (e) => errors.push(e) });
    const other = collect(store, all, true);
    store.put(item('boom'));
    expect(errors).toHaveLength(1);
    expect(other.seen).toHaveLength(1);
    expect(store.watcherCount).toBe(1);
  });

  it('complete() ends every watch; later watches send the current matches and complete', () => {
    const { store } = newStore();
    store.put(item('a', 1));
    const w = collect(store, all, true);
    store.complete();
    expect(w.completed()).toBe(true);
    expect(store.watcherCount).toBe(0);
    const later = collect(store, all, true);
    expect(later.seen).toEqual([{ item: item('a', 1), deleted: false }]);
    expect(later.completed()).toBe(true);
    expect(store.watcherCount).toBe(0);
  });
});

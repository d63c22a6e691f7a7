import { map, type Observable } from 'rxjs';
import type { ColdObservable } from 'rxjs/internal/testing/ColdObservable';
import { describe, expect, it } from 'vitest';
import { marbles } from '../test/marbles.js';
import { KubeApiError, type KubeList, type WatchEvent } from './client.js';
import { informer, type InformerView, type ListWatch } from './informer.js';
import type { KubeObject } from './resource.js';

const obj = (name: string, rv: string): KubeObject => ({ metadata: { name, namespace: 'ns', resourceVersion: rv } });
const list = (rv: string, ...items: KubeObject[]): KubeList<KubeObject> => ({ items, metadata: { resourceVersion: rv } });
const gone = new KubeApiError(410, 'Expired', 'watch', 'pods', 'too old resource version');
const refused = new KubeApiError(0, 'Unreachable', 'list', 'pods', 'connection refused');

/** A view as `{names: change list}` for compact expectations: "+a ~b -c" and the items. */
const summary = (v: InformerView<KubeObject>) => ({
  items: [...v.items.keys()].sort().join(','),
  changes: v.changes.map((c) => `${c.type === 'ADDED' ? '+' : c.type === 'MODIFIED' ? '~' : '-'}${c.object.metadata.name}`).join(' '),
  rv: v.resourceVersion,
});

/** A ListWatch answering the n-th list and the n-th watch with the given cold observables; records the watch resourceVersions. */
function source(lists: ColdObservable<KubeList<KubeObject>>[], watches: ColdObservable<WatchEvent<KubeObject>>[]): ListWatch<KubeObject> & { watchedFrom: string[] } {
  const watchedFrom: string[] = [];
  let l = 0;
  let w = 0;
  return {
    watchedFrom,
    list: () => lists[l++] as Observable<KubeList<KubeObject>>,
    watch: (rv) => {
      watchedFrom.push(rv);
      return watches[w++] as Observable<WatchEvent<KubeObject>>;
    },
  };
}

describe('informer', () => {
  it('lists, then watches from the list resourceVersion; a watch the server ends reopens from the last one seen (bookmarks too)', () => {
    let lw: ReturnType<typeof source> | undefined;
    marbles(({ cold, expectObservable }, scheduler) => {
      lw = source(
        [cold('-l|', { l: list('1', obj('a', '1')) })],
        [cold('--b--k|', { b: { type: 'ADDED', object: obj('b', '2') }, k: { type: 'BOOKMARK', object: { metadata: { resourceVersion: '3' } } } }), cold('-m-', { m: { type: 'MODIFIED', object: obj('a', '4') } })],
      );
      expectObservable(informer(lw, { scheduler }).pipe(map(summary))).toBe('-v-w----x-', {
        v: { items: 'ns/a', changes: '+a', rv: '1' },
        w: { items: 'ns/a,ns/b', changes: '+b', rv: '2' },
        x: { items: 'ns/a,ns/b', changes: '~a', rv: '4' },
      });
    });
    expect(lw?.watchedFrom).toEqual(['1', '3']);
  });

  it('emits the first view even when it is empty; a DELETED of an unknown object changes nothing', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const lw = source([cold('-l|', { l: list('1') })], [cold('-d-a-', { d: { type: 'DELETED', object: obj('z', '2') }, a: { type: 'ADDED', object: obj('a', '3') } })]);
      expectObservable(informer(lw, { scheduler }).pipe(map(summary))).toBe('-v--w', {
        v: { items: '', changes: '', rv: '1' },
        w: { items: 'ns/a', changes: '+a', rv: '3' },
      });
    });
  });

  it('relists at once on 410 Gone and emits only what changed meanwhile', () => {
    let lw: ReturnType<typeof source> | undefined;
    marbles(({ cold, expectObservable }, scheduler) => {
      lw = source(
        [cold('-l|', { l: list('1', obj('a', '1'), obj('b', '1')) }), cold('-l|', { l: list('5', obj('a', '1'), obj('c', '4')) })],
        [cold('--#', {}, gone), cold('----')],
      );
      expectObservable(informer(lw, { scheduler }).pipe(map(summary))).toBe('-v--w', {
        v: { items: 'ns/a,ns/b', changes: '+a +b', rv: '1' },
        w: { items: 'ns/a,ns/c', changes: '+c -b', rv: '5' },
      });
    });
    expect(lw?.watchedFrom).toEqual(['1', '5']);
  });

  it('a relist that finds nothing new emits nothing but resumes from its resourceVersion', () => {
    let lw: ReturnType<typeof source> | undefined;
    marbles(({ cold, expectObservable }, scheduler) => {
      lw = source([cold('-l|', { l: list('1', obj('a', '1')) }), cold('-l|', { l: list('7', obj('a', '1')) })], [cold('-#', {}, gone), cold('---')]);
      expectObservable(informer(lw, { scheduler }).pipe(map(summary))).toBe('-v-------', { v: { items: 'ns/a', changes: '+a', rv: '1' } });
    });
    expect(lw?.watchedFrom).toEqual(['1', '7']);
  });

  it('waits 200 ms, 400 ms, … (up to 5 s) while the apiserver cannot be reached, says why, and starts over after a view', () => {
    const said: string[] = [];
    marbles(({ cold, expectObservable }, scheduler) => {
      const lw = source(
        [cold('#', {}, refused), cold('#', {}, refused), cold('-l|', { l: list('3', obj('a', '3')) }), cold('-l|', { l: list('4', obj('a', '3')) })],
        [cold('-#', {}, refused), cold('--')],
      );
      const onRetry = (e: unknown, ms: number) => said.push(`${ms} ${(e as Error).message}`);
      // list fails at 0 → 200 → fails at 200 → 400 → lists at 601, watch fails at 602 → 200 → relists at 803.
      expectObservable(informer(lw, { scheduler, onRetry }).pipe(map(summary)), '^ 1s !').toBe('601ms v', { v: { items: 'ns/a', changes: '+a', rv: '3' } });
    });
    expect(said).toEqual(['200 connection refused', '400 connection refused', '200 connection refused']);
  });

  it('unsubscribing closes the watch', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const watch = cold<WatchEvent<KubeObject>>('-----');
      const lw = source([cold('-l|', { l: list('1') })], [watch]);
      expectObservable(informer(lw, { scheduler }), '^--!').toBe('-v', { v: expect.anything() as InformerView<KubeObject> });
      expectSubscriptions(watch.subscriptions).toBe('-^-!');
    });
  });
});

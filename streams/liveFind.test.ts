import { Observable } from 'rxjs';
import { map } from 'rxjs/operators';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { Context } from '../operators/core/context.js';
import { liveFind, type Found } from './liveFind.js';

type Item = { name: string; v?: number };
type Response = Found<Item>;

const testScheduler = () => new TestScheduler((a, b) => expect(a).toEqual(b));
const names = (view: ReadonlyMap<string, Item>) => [...view.keys()].sort().join(',');
const add = (name: string, v = 0): Response => ({ item: { name, v }, deleted: false });
const del = (name: string): Response => ({ item: { name }, deleted: true });

describe('liveFind', () => {
  it('emits the whole snapshot as one view, then each change of the watch', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const finds: Record<string, Observable<Response>> = {
        false: cold('-a-b|', { a: add('a'), b: add('b') }),
        true: cold('-a-b---c--d', { a: add('a'), b: add('b'), c: add('c'), d: del('a') }),
      };
      const views = liveFind<Item, boolean, Response>((watch) => finds[String(watch)]!, (watch) => watch, (r) => r, Context.background);
      // The watch repeats a and b (no change, no emission), then c arrives, then a goes.
      expectObservable(views.pipe(map(names)), '^ 20ms !').toBe('----x------y--z', { x: 'a,b', y: 'a,b,c', z: 'b,c' });
    });
  });

  it('after the stream breaks it finds again after 200 ms and emits a fresh whole view', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      let round = 0;
      const find = (watch: boolean): Observable<Response> => {
        if (!watch) return round++ === 0 ? cold('-a-b|', { a: add('a'), b: add('b') }) : cold('-a-c|', { a: add('a'), c: add('c') });
        return round === 1 ? cold('--#') : cold('-');
      };
      const views = liveFind<Item, boolean, Response>(find, (watch) => watch, (r) => r, Context.background);
      // 4 ms snapshot, watch breaks at 6, retry at 206, new snapshot at 210 without b.
      expectObservable(views.pipe(map(names)), '^ 300ms !').toBe('----x ' + '205ms y', { x: 'a,b', y: 'a,c' });
    });
  });

  it('an unchanged update does not emit; a changed item does', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const find = (watch: boolean) => (watch ? cold('-a-b', { a: add('a', 1), b: add('a', 2) }) : cold('-a|', { a: add('a', 1) }));
      const views = liveFind<Item, boolean, Response>(find, (watch) => watch, (r) => r, Context.background);
      expectObservable(views.pipe(map((v) => v.get('a')?.v)), '^ 20ms !').toBe('--x--y', { x: 1, y: 2 });
    });
  });
});

import { NEVER, throwError } from 'rxjs';
import { finalize } from 'rxjs/operators';
import { describe, expect, it } from 'vitest';
import { marbles } from '../../test/marbles.js';
import { forEachEntry } from './forEachEntry.js';

const view = (entries: Record<string, number>): ReadonlyMap<string, number> => new Map(Object.entries(entries));

describe('forEachEntry', () => {
  it('starts a stream per entry, stops it when the entry leaves or changes (before the new one starts), and all at the end', () => {
    marbles(({ cold, expectObservable, expectSubscriptions, hot, flush }) => {
      const log: string[] = [];
      const streams = { a: hot('-------'), b: hot('-------'), c: hot('-------') };
      const views = cold('-x--y--z--|', { x: view({ a: 1 }), y: view({ a: 1, b: 1 }), z: view({ b: 2 }) });
      const result = views.pipe(
        forEachEntry((key, value) => {
          log.push(`start ${key}${value}`);
          return (value === 2 ? streams.c : streams[key as 'a' | 'b']).pipe(finalize(() => log.push(`stop ${key}${value}`)));
        }),
      );
      expectObservable(result).toBe('----------|');
      flush();
      expect(log).toEqual(['start a1', 'start b1', 'stop a1', 'stop b1', 'start b2', 'stop b2']);
      expectSubscriptions(streams.a.subscriptions).toBe(['-^-----!']);
      expectSubscriptions(streams.b.subscriptions).toBe(['----^--!']);
      expectSubscriptions(streams.c.subscriptions).toBe(['-------^--!']);
    });
  });

  it('an equal value per `same` keeps the stream; an inner error is the error; unsubscribing stops every stream', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const inner = cold('---------');
      const kept = cold('-x-y', { x: view({ a: 1 }), y: view({ a: 1 }) }).pipe(forEachEntry(() => inner, (p, q) => p === q));
      expectObservable(kept, '^----!').toBe('-----');
      expectSubscriptions(inner.subscriptions).toBe(['-^---!']);
      const failing = cold('-x', { x: view({ a: 1 }) }).pipe(forEachEntry(() => throwError(() => new Error('boom'))));
      expectObservable(failing).toBe('-#', undefined, new Error('boom'));
      expectObservable(cold('-x', { x: view({}) }).pipe(forEachEntry(() => NEVER))).toBe('--');
    });
  });
});

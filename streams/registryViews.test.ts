import { EMPTY, firstValueFrom, lastValueFrom, type Observable } from 'rxjs';
import { map, toArray } from 'rxjs/operators';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import {
  NetworkService,
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
  type NetworkServiceQuery,
  type NetworkServiceResponse,
} from '../proto/gen/registry.js';
import { memoryRegistry } from '../operators/chains/registry.js';
import { Context } from '../operators/core/context.js';
import type { NSEHandler, NSHandler } from '../operators/core/registry.js';
import { unsignedTokenGenerator } from '../operators/tools/token.js';
import { findByNameFromViews, registryViews } from './registryViews.js';

const testScheduler = () => new TestScheduler((a, b) => expect(a).toEqual(b));
const nsv = (version: number): NetworkServiceResponse => ({ networkService: NetworkService.fromPartial({ name: 'ns', payload: `v${version}` }), deleted: false });
const nse = (name: string, deleted = false): NetworkServiceEndpointResponse => ({
  networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name, networkServiceNames: ['ns'], url: `unix:///${name}.sock` }),
  deleted,
});
const nsHandler = (find: (query: NetworkServiceQuery) => Observable<NetworkServiceResponse>): NSHandler => ({ register: () => EMPTY, unregister: () => EMPTY, find });
const nseHandler = (find: (query: NetworkServiceEndpointQuery) => Observable<NetworkServiceEndpointResponse>): NSEHandler => ({ register: () => EMPTY, unregister: () => EMPTY, find });
const names = (list: readonly NetworkServiceEndpoint[] | undefined) => (list === undefined ? 'miss' : list.map((e) => e.name).join(','));

describe('registryViews', () => {
  it('two readers share one Find watch; it closes `linger` after the last reader left', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const finds: boolean[] = [];
      const snapshot = cold('-a|', { a: nsv(1) });
      const watch = cold('-a-b', { a: nsv(1), b: nsv(2) });
      const ns = nsHandler((q) => (finds.push(q.watch), q.watch ? watch : snapshot));
      const views = registryViews({ ns, nse: nseHandler(() => EMPTY) }, { linger: 50 });
      const payload = map((s: NetworkService | undefined) => s?.payload);
      // Reader 1 from 0 to 10, reader 2 from 4 to 20: one snapshot, one watch (from 2).
      expectObservable(views.networkServiceVersions('ns').pipe(payload), '^---------!').toBe('--a--b', { a: 'v1', b: 'v2' });
      expectObservable(views.networkServiceVersions('ns').pipe(payload), '----^---------------!').toBe('----ab', { a: 'v1', b: 'v2' });
      expectSubscriptions(watch.subscriptions).toBe('--^ 67ms !');
      expectSubscriptions(snapshot.subscriptions).toBe('^-!');
      return () => expect(finds).toEqual([false, true]);
    });
  });

  it('a reader back within the linger finds the view open and current, without a new Find', () => {
    testScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const watch = cold('---d', { d: nse('b', true) });
      let finds = 0;
      const views = registryViews({ ns: nsHandler(() => EMPTY), nse: nseHandler((q) => (finds++, q.watch ? watch : cold('-(ab|)', { a: nse('a'), b: nse('b') }))) }, { linger: 10 });
      // Reads at 0 (a miss: the view starts), 3 and 12 (within 10 of the previous read), 30 (after the linger: started again).
      const reads = hot('a--b--------c-----------------d').pipe(map(() => names(views.endpoints({ networkServiceNames: ['ns'] }))));
      expectObservable(reads).toBe('a--b--------c-----------------d', { a: 'miss', b: 'a,b', c: 'a', d: 'miss' });
      // The deletion of b at 4 leaves the view; the watch ends 10 after the read at 12 (and at 30 a new one starts).
      expectSubscriptions(watch.subscriptions).toBe(['-^ 20ms !', '31ms ^ 8ms !']);
      return () => expect(finds).toBe(4);
    });
  });

  it('after the registry restarts the view is found again whole: what vanished meanwhile is gone', () => {
    testScheduler().run(({ cold, hot, expectObservable }) => {
      let round = 0;
      const nse$ = nseHandler((q) => {
        if (!q.watch) return round++ === 0 ? cold('-(ab|)', { a: nse('a'), b: nse('b') }) : cold('-(ac|)', { a: nse('a'), c: nse('c') });
        return round === 1 ? cold('--#') : cold('-');
      });
      const views = registryViews({ ns: nsHandler(() => EMPTY), nse: nse$ }, { retryInterval: 10 });
      // Snapshot at 1, watch breaks at 3, found again at 13, new view at 14.
      const reads = hot('a-b---------------c').pipe(map(() => names(views.endpoints({ networkServiceNames: ['ns'] }))));
      expectObservable(reads).toBe('a-b---------------c', { a: 'miss', b: 'a,b', c: 'a,c' });
    });
  });

  it('dispose ends every watch at once; later reads miss and start nothing', () => {
    testScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const watch = cold<NetworkServiceEndpointResponse>('-');
      let finds = 0;
      const views = registryViews({ ns: nsHandler(() => EMPTY), nse: nseHandler((q) => (finds++, q.watch ? watch : cold('(a|)', { a: nse('a') }))) });
      const reads = hot('a-b-c').pipe(map(() => names(views.endpoints({ name: 'a' }))));
      hot('---x').subscribe(() => views.dispose());
      expectObservable(reads).toBe('a-b-c', { a: 'miss', b: 'a', c: 'miss' });
      expectSubscriptions(watch.subscriptions).toBe('^--!');
      return () => {
        expect(finds).toBe(2);
        expect(views.size).toBe(0);
      };
    });
  });

  it('dispose leaves no linger timer behind, even with a reader still subscribed', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold, hot, expectObservable }) => {
      const views = registryViews({ ns: nsHandler((q) => (q.watch ? cold('-') : cold('-(a|)', { a: nsv(1) }))), nse: nseHandler(() => EMPTY) }, { linger: 50 });
      hot('-----x').subscribe(() => views.dispose());
      expectObservable(views.networkServiceVersions('ns').pipe(map((s) => s?.payload))).toBe('-a---|', { a: 'v1' });
    });
    // A linger timer armed as the reader heard the end would have carried the clock to frame 55.
    expect(scheduler.now()).toBe(5);
  });

  it('findByNameFromViews: a Find by name alone is answered from its view; a miss or any other Find goes on', () => {
    testScheduler().run(({ cold, hot, flush }) => {
      const queries: string[] = [];
      const inner = nseHandler((q) => {
        queries.push(`${q.networkServiceEndpoint?.name ?? ''}|${q.networkServiceEndpoint?.url ?? ''}|${q.watch}`);
        return q.watch ? cold<NetworkServiceEndpointResponse>('-') : cold('(a|)', { a: nse('a') });
      });
      const views = registryViews({ ns: nsHandler(() => EMPTY), nse: inner });
      const viewed = findByNameFromViews(views, inner);
      const answers: string[] = [];
      const find = (query: Partial<NetworkServiceEndpoint>) =>
        viewed.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: query }), Context.background).subscribe((r) => answers.push(r.networkServiceEndpoint?.name ?? ''));
      // At 0 a miss: a Find, and the view starts (snapshot + watch); at 2 the view answers; at 4 a query with a url goes on.
      hot('a-b').subscribe(() => find({ name: 'a' }));
      hot('----x').subscribe(() => find({ name: 'a', url: 'unix:///a.sock' }));
      flush();
      views.dispose();
      expect(answers).toEqual(['a', 'a', 'a']);
      expect(queries).toEqual(['a||false', 'a||false', 'a||true', 'a|unix:///a.sock|false']);
    });
  });
});

describe('registryViews over the memory registry', () => {
  it('an unregistered and an expired endpoint leave the view (the registry sends both as deletions)', async () => {
    const registry = memoryRegistry({ token: unsignedTokenGenerator('registry', 3_600_000, () => Date.now()), lifetime: 300 });
    const views = registryViews(registry);
    const ctx = () => Context.background.withDeadline(Date.now() + 5000);
    const register = (name: string) => firstValueFrom(registry.nse.register(NetworkServiceEndpoint.fromPartial({ name, networkServiceNames: ['ns'], url: `unix:///${name}.sock` }), ctx()));
    const view = () => names(views.endpoints({ networkServiceNames: ['ns'] }));
    /** Polls the view until it reads `want` (the watch delivers asynchronously). */
    const until = async (want: string) => {
      for (let i = 0; i < 200 && view() !== want; i++) await new Promise((r) => setTimeout(r, 5));
      return view();
    };
    try {
      const kept = await register('kept');
      const gone = await register('gone');
      expect(await until('kept,gone')).toBe('kept,gone');
      await lastValueFrom(registry.nse.unregister(gone, ctx()), { defaultValue: undefined });
      expect(await until('kept')).toBe('kept');
      // No refresh: the registry unregisters `kept` when its 300 ms lifetime is up.
      expect(kept.expirationTime).toBeDefined();
      expect(await until('')).toBe('');
      expect(await lastValueFrom(registry.nse.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { name: 'kept' } }), ctx()).pipe(toArray()))).toEqual([]);
    } finally {
      views.dispose();
      registry.dispose();
    }
  });
});

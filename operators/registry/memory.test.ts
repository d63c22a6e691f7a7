import { firstValueFrom, lastValueFrom, Observable, of, throwError, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  NetworkService,
  NetworkServiceEndpoint,
  type NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
  type NetworkServiceQuery,
  type NetworkServiceResponse,
} from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { internal } from '../core/errors.js';
import { msToTimestamp } from '../core/path.js';
import { registryChain, registryTail, type NSEHandler, type NSHandler } from '../core/registry.js';
import { newNSEStore, newNSStore, nseMemory, nsMemory } from './memory.js';
import { marbles } from '../../test/marbles.js';

const ctx = Context.background;
const nse = (name: string, extra: Partial<NetworkServiceEndpoint> = {}) => NetworkServiceEndpoint.fromPartial({ name, ...extra });
const ns = (name: string, extra: Partial<NetworkService> = {}) => NetworkService.fromPartial({ name, ...extra });
const nseQuery = (q: Partial<NetworkServiceEndpoint> = {}, watch = false): NetworkServiceEndpointQuery => ({
  networkServiceEndpoint: NetworkServiceEndpoint.fromPartial(q),
  watch,
});
const nsQuery = (q: Partial<NetworkService> = {}, watch = false): NetworkServiceQuery => ({ networkService: NetworkService.fromPartial(q), watch });
const all = <T>(o: Observable<T>) => lastValueFrom(o.pipe(toArray()));
const nseNames = (rs: NetworkServiceEndpointResponse[]) => rs.map((r) => `${r.deleted ? '-' : ''}${r.networkServiceEndpoint?.name}`);
const nsNames = (rs: NetworkServiceResponse[]) => rs.map((r) => `${r.deleted ? '-' : ''}${r.networkService?.name}`);

/** Labelled NSEs of upstream's memory tests (RegisterAndFindByLabel). */
const labelled = [
  nse('nse1', { networkServiceNames: ['Service1'], networkServiceLabels: { Service1: { labels: { foo: 'bar' } } } }),
  nse('nse2', {
    networkServiceNames: ['Service1', 'Service2'],
    networkServiceLabels: { Service1: { labels: { a: 'b', c: 'd' } }, Service2: { labels: { 1: '2', 3: '4' } } },
  }),
  nse('nse3', { networkServiceNames: ['Service1'], networkServiceLabels: { Service555: { labels: { a: 'b', c: 'd' } } } }),
];

describe('nseMemory', () => {
  const setup = (options: { now?: () => number } = {}) => {
    const store = newNSEStore();
    const scheduler = { now: options.now ?? (() => 0), schedule: () => undefined as never };
    const handler: NSEHandler = registryChain([nseMemory(store, { scheduler })]);
    return { store, handler };
  };

  it('Register stores the item and returns a copy of it (RegisterAndFind)', async () => {
    const { store, handler } = setup();
    for (const n of ['a', 'b', 'c']) await firstValueFrom(handler.register(nse(n, { url: 'tcp://127.0.0.1:1' }), ctx));
    expect(store.size).toBe(3);
    const returned = await firstValueFrom(handler.register(nse('d'), ctx));
    expect(returned).toEqual(nse('d'));
    returned.name = 'mutated';
    expect(store.get('d')).toEqual(nse('d'));
    expect(nseNames(await all(handler.find(nseQuery({ name: 'a' }), ctx)))).toEqual(['a']);
  });

  it('Register of a known name updates it in place', async () => {
    const { store, handler } = setup();
    await firstValueFrom(handler.register(nse('a', { url: 'tcp://127.0.0.1:1' }), ctx));
    await firstValueFrom(handler.register(nse('a', { url: 'tcp://127.0.0.1:2' }), ctx));
    expect(store.size).toBe(1);
    expect(store.get('a')?.url).toBe('tcp://127.0.0.1:2');
  });

  it('Register stores what the rest of the chain answered, and nothing when it fails', async () => {
    const store = newNSEStore();
    let fail = false;
    const next: NSEHandler = {
      ...registryTail(),
      register: (item) => (fail ? throwError(() => internal('down')) : of({ ...item, url: 'tcp://10.0.0.1:5' })),
    };
    const handler = registryChain([nseMemory(store)], next);
    expect((await firstValueFrom(handler.register(nse('a'), ctx))).url).toBe('tcp://10.0.0.1:5');
    expect(store.get('a')?.url).toBe('tcp://10.0.0.1:5');
    fail = true;
    await expect(firstValueFrom(handler.register(nse('b'), ctx))).rejects.toThrow('down');
    expect(store.get('b')).toBeUndefined();
  });

  it('Register is lazy: nothing is stored until subscribed', () => {
    const { store, handler } = setup();
    const call = handler.register(nse('a'), ctx);
    expect(store.size).toBe(0);
    call.subscribe();
    expect(store.size).toBe(1);
  });

  it('Unregister removes the name and emits once; an unknown name succeeds as a no-op', async () => {
    const { store, handler } = setup();
    await firstValueFrom(handler.register(nse('a'), ctx));
    const watch = collectWatch(handler, nseQuery({}, true));
    expect(await all(handler.unregister(nse('a'), ctx))).toEqual([undefined]);
    expect(store.size).toBe(0);
    expect(await all(handler.unregister(nse('unknown'), ctx))).toEqual([undefined]);
    expect(await all(handler.unregister(nse('a'), ctx))).toEqual([undefined]);
    expect(nseNames(watch.seen)).toEqual(['a', '-a']);
    watch.stop();
  });

  it('Unregister removes by name alone, whatever else the caller sends', async () => {
    const { store, handler } = setup();
    await firstValueFrom(handler.register(nse('a', { url: 'tcp://127.0.0.1:1' }), ctx));
    await firstValueFrom(handler.unregister(nse('a', { url: 'tcp://127.0.0.1:999' }), ctx));
    expect(store.size).toBe(0);
  });

  it('Find with watch=false sends the current matches then completes (RegisterAndFindByLabel)', async () => {
    const { handler } = setup();
    for (const n of labelled) await firstValueFrom(handler.register(n, ctx));
    const found = await all(handler.find(nseQuery({ networkServiceLabels: { Service1: { labels: { c: 'd' } } } }), ctx));
    expect(found).toEqual([{ networkServiceEndpoint: labelled[1], deleted: false }]);
    expect(nseNames(await all(handler.find(nseQuery({ networkServiceNames: ['Service1'] }), ctx)))).toEqual(['nse1', 'nse2', 'nse3']);
    expect(nseNames(await all(handler.find(nseQuery(), ctx)))).toEqual(['nse1', 'nse2', 'nse3']);
    expect(nseNames(await all(handler.find({ networkServiceEndpoint: undefined, watch: false }, ctx)))).toEqual(['nse1', 'nse2', 'nse3']);
    expect(await all(handler.find(nseQuery({ name: 'nse' }), ctx))).toEqual([]);
  });

  it('Find with watch=true: current matches, then each later matching change with deleted, until unsubscribed (marble)', () => {
    marbles(({ expectObservable }, scheduler) => {
      const store = newNSEStore();
      const handler = registryChain([nseMemory(store, { scheduler })]);
      handler.register(labelled[1] as NetworkServiceEndpoint, ctx).subscribe();
      const at = (t: number, f: () => void) => scheduler.schedule(f, t);
      at(2, () => handler.register(labelled[0] as NetworkServiceEndpoint, ctx).subscribe()); // no c=d label
      at(3, () => handler.register(labelled[1] as NetworkServiceEndpoint, ctx).subscribe()); // refresh
      at(5, () => handler.unregister(labelled[1] as NetworkServiceEndpoint, ctx).subscribe());
      at(6, () => handler.unregister(labelled[0] as NetworkServiceEndpoint, ctx).subscribe());
      at(9, () => handler.register(labelled[1] as NetworkServiceEndpoint, ctx).subscribe()); // after unsubscribe
      const query = nseQuery({ networkServiceLabels: { Service1: { labels: { c: 'd' } } } }, true);
      const r = (deleted: boolean): NetworkServiceEndpointResponse => ({ networkServiceEndpoint: labelled[1], deleted });
      expectObservable(handler.find(query, ctx), '^ 7ms !').toBe('a--b-c--', { a: r(false), b: r(false), c: r(true) });
      scheduler.schedule(() => expect(store.watcherCount).toBe(0), 10);
    });
  });

  it('every watcher of a name hears its Unregister (ShouldReceiveAllUnregisters)', async () => {
    const { handler } = setup();
    const names = Array.from({ length: 20 }, (_, i) => `nse-${i}`);
    for (const n of names) await firstValueFrom(handler.register(nse(n), ctx));
    const watches = names.map((n) => collectWatch(handler, nseQuery({ name: n }, true)));
    for (const n of names) await firstValueFrom(handler.unregister(nse(n), ctx));
    watches.forEach((w, i) => expect(nseNames(w.seen)).toEqual([`nse-${i}`, `-nse-${i}`]));
    watches.forEach((w) => w.stop());
  });

  it('watchers get their own copies (DataRace: a watcher clearing a name changes nothing else)', async () => {
    const { store, handler } = setup();
    const w1 = handler.find(nseQuery({}, true), ctx).subscribe((r) => {
      if (r.networkServiceEndpoint) r.networkServiceEndpoint.name = '';
    });
    const w2 = collectWatch(handler, nseQuery({}, true));
    await firstValueFrom(handler.register(nse('nse'), ctx));
    expect(store.get('nse')?.name).toBe('nse');
    expect(nseNames(w2.seen)).toEqual(['nse']);
    w1.unsubscribe();
    w2.stop();
  });

  describe('expiry', () => {
    const expiring = (name: string, atMs: number) => nse(name, { expirationTime: msToTimestamp(atMs) });

    it('Find never returns an NSE whose expiration_time is not after now; NSEs without one are valid', async () => {
      let now = 0;
      const { handler } = setup({ now: () => now });
      await firstValueFrom(handler.register(expiring('soon', 1000), ctx));
      await firstValueFrom(handler.register(expiring('later', 5000), ctx));
      await firstValueFrom(handler.register(nse('forever'), ctx));
      now = 999;
      expect(nseNames(await all(handler.find(nseQuery(), ctx)))).toEqual(['soon', 'later', 'forever']);
      now = 1000;
      expect(nseNames(await all(handler.find(nseQuery(), ctx)))).toEqual(['later', 'forever']);
      now = 10_000;
      expect(nseNames(await all(handler.find(nseQuery({ name: 'later' }), ctx)))).toEqual([]);
      expect(nseNames(await all(handler.find(nseQuery(), ctx)))).toEqual(['forever']);
    });

    it('a watch does not send a change carrying a past expiration_time, but always sends removals (marble)', () => {
      marbles(({ expectObservable }, scheduler) => {
        const store = newNSEStore();
        const handler = registryChain([nseMemory(store, { scheduler })]);
        handler.register(expiring('a', 3), ctx).subscribe();
        scheduler.schedule(() => handler.register(expiring('b', 2), ctx).subscribe(), 4); // already past
        scheduler.schedule(() => handler.register(expiring('a', 10), ctx).subscribe(), 5); // refreshed
        scheduler.schedule(() => handler.unregister(nse('b'), ctx).subscribe(), 6);
        const r = (name: string, atMs: number, deleted = false): NetworkServiceEndpointResponse => ({
          networkServiceEndpoint: expiring(name, atMs),
          deleted,
        });
        expectObservable(handler.find(nseQuery({}, true), ctx), '^ 7ms !').toBe('a----cd-', { a: r('a', 3), c: r('a', 10), d: r('b', 2, true) });
      });
    });

    it('uses the asyncScheduler clock by default', async () => {
      const store = newNSEStore();
      const handler = registryChain([nseMemory(store)]);
      await firstValueFrom(handler.register(expiring('past', Date.now() - 1000), ctx));
      await firstValueFrom(handler.register(expiring('future', Date.now() + 60_000), ctx));
      expect(nseNames(await all(handler.find(nseQuery(), ctx)))).toEqual(['future']);
    });
  });

  it('Find asks the rest of the chain: after its own answers without watch, before its watch with it', async () => {
    const store = newNSEStore();
    const next: NSEHandler = { ...registryTail(), find: () => of({ networkServiceEndpoint: nse('from-next'), deleted: false }) };
    const handler = registryChain([nseMemory(store)], next);
    await firstValueFrom(handler.register(nse('own'), ctx));
    expect(nseNames(await all(handler.find(nseQuery(), ctx)))).toEqual(['own', 'from-next']);
    const w = collectWatch(handler, nseQuery({}, true));
    expect(nseNames(w.seen)).toEqual(['from-next', 'own']);
    w.stop();
  });
});

describe('nsMemory', () => {
  const setup = () => {
    const store = newNSStore();
    const handler: NSHandler = registryChain([nsMemory(store)]);
    return { store, handler };
  };

  it('Register stores (a known name is updated) and returns a copy of what was stored', async () => {
    const { store, handler } = setup();
    const first = await firstValueFrom(handler.register(ns('ns-1', { payload: 'IP' }), ctx));
    expect(first).toEqual(ns('ns-1', { payload: 'IP' }));
    await firstValueFrom(handler.register(ns('ns-1', { payload: 'ETHERNET' }), ctx));
    expect(store.size).toBe(1);
    expect(store.get('ns-1')?.payload).toBe('ETHERNET');
    first.payload = 'mutated';
    expect(store.get('ns-1')?.payload).toBe('ETHERNET');
  });

  it('Find matches by name, payload and matches; watch=false completes', async () => {
    const { handler } = setup();
    const matches = [{ sourceSelector: { app: 'a' }, routes: [], fallthrough: false, metadata: undefined }];
    await firstValueFrom(handler.register(ns('ns-1', { payload: 'IP' }), ctx));
    await firstValueFrom(handler.register(ns('ns-2', { payload: 'ETHERNET', matches }), ctx));
    await firstValueFrom(handler.register(ns('ns-10', { payload: 'IP' }), ctx));
    expect(nsNames(await all(handler.find(nsQuery({ name: 'ns-1' }), ctx)))).toEqual(['ns-1']);
    expect(nsNames(await all(handler.find(nsQuery({ payload: 'IP' }), ctx)))).toEqual(['ns-1', 'ns-10']);
    expect(nsNames(await all(handler.find(nsQuery({ matches }), ctx)))).toEqual(['ns-2']);
    expect(nsNames(await all(handler.find(nsQuery(), ctx)))).toEqual(['ns-1', 'ns-2', 'ns-10']);
  });

  it('Find with watch=true: current, then changes with deleted, until unsubscribed (marble)', () => {
    marbles(({ expectObservable }, scheduler) => {
      const { store, handler } = setup();
      handler.register(ns('ns-1'), ctx).subscribe();
      scheduler.schedule(() => handler.register(ns('ns-2'), ctx).subscribe(), 1);
      scheduler.schedule(() => handler.register(ns('ns-1', { payload: 'IP' }), ctx).subscribe(), 2);
      scheduler.schedule(() => handler.unregister(ns('ns-1'), ctx).subscribe(), 4);
      scheduler.schedule(() => handler.unregister(ns('ns-1'), ctx).subscribe(), 5); // unknown now: nothing
      scheduler.schedule(() => handler.register(ns('ns-1'), ctx).subscribe(), 7); // after unsubscribe
      const r = (name: string, payload = '', deleted = false): NetworkServiceResponse => ({ networkService: ns(name, { payload }), deleted });
      expectObservable(handler.find(nsQuery({ name: 'ns-1' }, true), ctx), '^ 5ms !').toBe('a-b-c-', {
        a: r('ns-1'),
        b: r('ns-1', 'IP'),
        c: r('ns-1', 'IP', true),
      });
      scheduler.schedule(() => expect(store.watcherCount).toBe(0), 8);
    });
  });

  it('Unregister removes, emits once, and succeeds for an unknown name', async () => {
    const { store, handler } = setup();
    await firstValueFrom(handler.register(ns('ns-1'), ctx));
    expect(await all(handler.unregister(ns('ns-1'), ctx))).toEqual([undefined]);
    expect(await all(handler.unregister(ns('nope'), ctx))).toEqual([undefined]);
    expect(store.size).toBe(0);
  });

  it('Find sends its own answers, then the rest of the chain’s', async () => {
    const store = newNSStore();
    const next: NSHandler = { ...registryTail(), find: () => of({ networkService: ns('from-next'), deleted: false }) };
    const handler = registryChain([nsMemory(store)], next);
    await firstValueFrom(handler.register(ns('own'), ctx));
    expect(nsNames(await all(handler.find(nsQuery(), ctx)))).toEqual(['own', 'from-next']);
  });
});

function collectWatch(handler: NSEHandler, query: NetworkServiceEndpointQuery) {
  const seen: NetworkServiceEndpointResponse[] = [];
  const subscription = handler.find(query, ctx).subscribe((r) => seen.push(r));
  return { seen, stop: () => subscription.unsubscribe() };
}

import { status } from '../core/status.js';
import { defer, EMPTY, NEVER, Observable, of } from 'rxjs';
import { concatMap, map, share } from 'rxjs/operators';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { NetworkService, NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { Context, ContextKey } from '../core/context.js';
import { msToTimestamp } from '../core/path.js';
import { registryChain, type NSEHandler, type NSHandler } from '../core/registry.js';
import {
  nseBegin,
  nseBeginClient,
  nsBegin,
  nsBeginClient,
  registryEventFactoryKey,
  registryEventFactoryOf,
  type RegistryEventFactory,
} from './begin.js';
import { marbles } from '../../test/marbles.js';

/** Runs `body` in virtual time; the same TestScheduler is handed over for injection as `scheduler`. */

const nse = (name: string, extra: Partial<NetworkServiceEndpoint> = {}) =>
  NetworkServiceEndpoint.fromPartial({ name, networkServiceNames: ['ns'], url: 'tcp://127.0.0.1:5001', ...extra });

interface Call<T> {
  readonly kind: 'register' | 'unregister';
  readonly at: number;
  readonly item: T;
  readonly ctx: Context;
}

/**
 * The rest of an NSE chain below begin: Register answers after `registerReply(n)` (a cold marble
 * whose value is ignored) with the item, `answer` applied; Unregister after `unregisterReply`.
 * Every call is recorded with its virtual time.
 */
function nseRegistry(
  scheduler: TestScheduler,
  registerReply: Observable<unknown> | ((n: number) => Observable<unknown>),
  unregisterReply: Observable<unknown> = of(undefined),
  answer: (item: NetworkServiceEndpoint, n: number) => void = (item, n) => {
    item.url = `tcp://answered-${n}`;
    item.expirationTime = msToTimestamp(60_000);
  },
) {
  const calls: Call<NetworkServiceEndpoint>[] = [];
  let n = 0;
  const next: NSEHandler = {
    register: (item, ctx) =>
      defer(() => {
        const i = n++;
        calls.push({ kind: 'register', at: scheduler.now(), item: NetworkServiceEndpoint.fromPartial(item), ctx });
        const reply = typeof registerReply === 'function' ? registerReply(i) : registerReply;
        return reply.pipe(
          map(() => {
            const out = NetworkServiceEndpoint.fromPartial(item);
            answer(out, i);
            return out;
          }),
        );
      }),
    find: () => EMPTY,
    unregister: (item, ctx) =>
      defer(() => {
        calls.push({ kind: 'unregister', at: scheduler.now(), item: NetworkServiceEndpoint.fromPartial(item), ctx });
        return unregisterReply.pipe(map(() => undefined));
      }),
  };
  const log = () => calls.map((c) => `${c.kind} ${c.item.name}@${c.at}`);
  const factoryOf = (i = 0) => registryEventFactoryOf(calls[i]?.ctx as Context) as RegistryEventFactory;
  return { next, calls, log, factoryOf };
}

function nsRegistry(scheduler: TestScheduler) {
  const calls: Call<NetworkService>[] = [];
  const next: NSHandler = {
    register: (item, ctx) =>
      defer(() => {
        calls.push({ kind: 'register', at: scheduler.now(), item: NetworkService.fromPartial(item), ctx });
        return of(NetworkService.fromPartial({ ...item, payload: 'ETHERNET' }));
      }),
    find: () => EMPTY,
    unregister: (item, ctx) =>
      defer(() => {
        calls.push({ kind: 'unregister', at: scheduler.now(), item: NetworkService.fromPartial(item), ctx });
        return of(undefined);
      }),
  };
  const log = () => calls.map((c) => `${c.kind} ${c.item.name}@${c.at}`);
  return { next, calls, log };
}

const nameOf = map((x: { name: string }) => x.name);
const done = { x: undefined };

describe('registry begin: per-name serialisation', () => {
  it('two Registers of one name never overlap: the second waits for the first (FIFO)', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const reply = cold('---(c|)');
      const { next } = nseRegistry(scheduler, reply);
      const handler = registryChain([nseBegin({ scheduler })], next);
      expectObservable(handler.register(nse('a'), Context.background).pipe(nameOf)).toBe('---(a|)');
      expectObservable(handler.register(nse('a'), Context.background).pipe(nameOf), '-^').toBe('------(a|)');
      expectObservable(handler.register(nse('a'), Context.background).pipe(nameOf), '--^').toBe('---------(a|)');
      expectSubscriptions(reply.subscriptions).toBe(['^--!', '---^--!', '------^--!']);
    });
  });

  it('Registers of different names run in parallel', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const reply = cold('---(c|)');
      const { next } = nseRegistry(scheduler, reply);
      const handler = registryChain([nseBegin({ scheduler })], next);
      expectObservable(handler.register(nse('a'), Context.background).pipe(nameOf)).toBe('---(a|)');
      expectObservable(handler.register(nse('b'), Context.background).pipe(nameOf)).toBe('---(b|)');
      expectSubscriptions(reply.subscriptions).toBe(['^--!', '^--!']);
    });
  });

  it('an Unregister waits for the Register in flight and sends what the chain accepted (name kept, expiration cleared)', () => {
    marbles(({ cold, expectObservable, expectSubscriptions, flush }, scheduler) => {
      const reply = cold('---(c|)');
      const unregisterReply = cold('--(x|)');
      const { next, calls } = nseRegistry(scheduler, reply, unregisterReply);
      const begin = nseBegin({ scheduler });
      const handler = registryChain([begin], next);
      expectObservable(handler.register(nse('a'), Context.background).pipe(nameOf)).toBe('---(a|)');
      expectObservable(handler.unregister(nse('a', { url: 'what the caller holds' }), Context.background), '-^').toBe('-----(x|)', done);
      expectSubscriptions(unregisterReply.subscriptions).toBe('---^-!');
      flush();
      const sent = calls[1]?.item as NetworkServiceEndpoint;
      expect(sent.url).toBe('tcp://answered-0');
      expect(sent.expirationTime).toBeUndefined();
      expect(begin.names.size).toBe(0);
    });
  });

  it('a Register queued behind an Unregister registers the name anew', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, log } = nseRegistry(scheduler, cold('-(c|)'), cold('--(x|)'));
      const begin = nseBegin({ scheduler });
      const handler = registryChain([begin], next);
      handler.register(nse('a'), Context.background).subscribe();
      cold('--x').subscribe(() => handler.unregister(nse('a'), Context.background).subscribe());
      cold('---x').subscribe(() => handler.register(nse('a'), Context.background).subscribe());
      cold('------x').subscribe(() => expect(begin.names.get('a')?.state).toBe('established'));
      flush();
      expect(log()).toEqual(['register a@0', 'unregister a@2', 'register a@4']);
      expect(begin.names.size).toBe(1);
    });
  });

  it('a failed first Register forgets the name', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { next } = nseRegistry(scheduler, cold('--#', undefined, new Error('no')));
      const begin = nseBegin({ scheduler });
      const handler = registryChain([begin], next);
      expectObservable(handler.register(nse('a'), Context.background)).toBe('--#', undefined, new Error('no'));
      cold('-x').subscribe(() => expect(begin.names.size).toBe(1));
      flush();
      expect(begin.names.size).toBe(0);
    });
  });

  it('a Register waiting behind a failing first Register starts again with a fresh entry', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { next, log } = nseRegistry(scheduler, (n) => (n === 0 ? cold('--#', undefined, new Error('no')) : cold('-(c|)')));
      const begin = nseBegin({ scheduler });
      const handler = registryChain([begin], next);
      handler.register(nse('a'), Context.background).subscribe({ error: () => undefined });
      expectObservable(handler.register(nse('a'), Context.background).pipe(nameOf), '-^').toBe('---(a|)');
      flush();
      expect(log()).toEqual(['register a@0', 'register a@2']);
      expect(begin.names.get('a')?.state).toBe('established');
    });
  });

  it('a first Register cancelled before its answer forgets the name (unsubscribe = cancel)', () => {
    marbles(({ cold, expectObservable, expectSubscriptions, flush }, scheduler) => {
      const reply = cold('-----(c|)');
      const { next } = nseRegistry(scheduler, reply);
      const begin = nseBegin({ scheduler });
      const handler = registryChain([begin], next);
      expectObservable(handler.register(nse('a'), Context.background), '^-!').toBe('');
      expectSubscriptions(reply.subscriptions).toBe('^-!');
      flush();
      expect(begin.names.size).toBe(0);
    });
  });

  it('a failed re-Register keeps the established registration', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { next, calls } = nseRegistry(scheduler, (n) => (n === 0 ? cold('-(c|)') : cold('-#', undefined, new Error('refresh failed'))));
      const begin = nseBegin({ scheduler });
      const handler = registryChain([begin], next);
      handler.register(nse('a'), Context.background).subscribe();
      expectObservable(handler.register(nse('a', { url: 'changed' }), Context.background), '--^').toBe('---#', undefined, new Error('refresh failed'));
      cold('-----x').subscribe(() => handler.unregister(nse('a'), Context.background).subscribe());
      flush();
      expect(calls.map((c) => `${c.kind}@${c.at}`)).toEqual(['register@0', 'register@2', 'unregister@5']);
      expect(calls[2]?.item.url).toBe('tcp://answered-0');
      expect(begin.names.size).toBe(0);
    });
  });

  it('rejects a Register without a name (INVALID_ARGUMENT) and keeps nothing', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { next, calls } = nseRegistry(scheduler, cold('-(c|)'));
      const begin = nseBegin({ scheduler });
      const handler = registryChain([begin], next);
      expectObservable(handler.register(nse(''), Context.background)).toBe(
        '#',
        undefined,
        expect.objectContaining({ code: status.INVALID_ARGUMENT }) as unknown as Error,
      );
      flush();
      expect(calls).toEqual([]);
      expect(begin.names.size).toBe(0);
    });
  });

  it('is lazy: nothing is kept for a Register nobody subscribes to', () => {
    marbles((_, scheduler) => {
      const { next } = nseRegistry(scheduler, of(undefined));
      const begin = nseBegin({ scheduler });
      registryChain([begin], next).register(nse('a'), Context.background);
      expect(begin.names.size).toBe(0);
    });
  });
});

describe('registry begin: Unregister of a name it does not know', () => {
  for (const [side, make] of [
    ['server', nseBegin],
    ['client', nseBeginClient],
  ] as const) {
    it(`NSE (${side}): goes down the chain with the item as given, leaves nothing behind`, () => {
      marbles(({ cold, expectObservable, flush }, scheduler) => {
        const { next, calls } = nseRegistry(scheduler, cold('-(c|)'), cold('-(x|)'));
        const begin = make({ scheduler });
        const handler = registryChain([begin], next);
        expectObservable(handler.unregister(nse('unknown', { url: 'tcp://given' }), Context.background)).toBe('-(x|)', done);
        flush();
        expect(calls.map((c) => `${c.kind} ${c.item.name} ${c.item.url}`)).toEqual(['unregister unknown tcp://given']);
        expect(begin.names.size).toBe(0);
      });
    });
  }

  it('NSE: a second Unregister after the first goes down the chain again (as upstream)', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls, log } = nseRegistry(scheduler, cold('-(c|)'));
      const begin = nseBegin({ scheduler });
      const handler = registryChain([begin], next);
      handler.register(nse('a'), Context.background).subscribe();
      cold('--x').subscribe(() => handler.unregister(nse('a'), Context.background).subscribe());
      cold('---x').subscribe(() => handler.unregister(nse('a', { url: 'tcp://given' }), Context.background).subscribe());
      flush();
      expect(log()).toEqual(['register a@0', 'unregister a@2', 'unregister a@3']);
      expect(calls[2]?.item.url).toBe('tcp://given');
      expect(begin.names.size).toBe(0);
    });
  });

  for (const [side, make] of [
    ['server', nsBegin],
    ['client', nsBeginClient],
  ] as const) {
    it(`NS (${side}): succeeds at once and never calls the rest of the chain`, () => {
      marbles(({ expectObservable, flush }, scheduler) => {
        const { next, calls } = nsRegistry(scheduler);
        const begin = make({ scheduler });
        const handler = registryChain([begin], next);
        expectObservable(handler.unregister(NetworkService.fromPartial({ name: 'unknown' }), Context.background)).toBe('(x|)', done);
        flush();
        expect(calls).toEqual([]);
        expect(begin.names.size).toBe(0);
      });
    });
  }

  it('NS: a registered name is unregistered with what the chain answered, then forgotten', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls, log } = nsRegistry(scheduler);
      const begin = nsBegin({ scheduler });
      const handler = registryChain([begin], next);
      handler.register(NetworkService.fromPartial({ name: 'ns' }), Context.background).subscribe();
      cold('--x').subscribe(() => handler.unregister(NetworkService.fromPartial({ name: 'ns' }), Context.background).subscribe());
      cold('---x').subscribe(() => handler.unregister(NetworkService.fromPartial({ name: 'ns' }), Context.background).subscribe());
      flush();
      expect(log()).toEqual(['register ns@0', 'unregister ns@2']);
      expect(calls[1]?.item.payload).toBe('ETHERNET');
      expect(begin.names.size).toBe(0);
    });
  });
});

describe('registry begin: event factory', () => {
  const valueKey = new ContextKey<string>('test.value');

  it('register() re-enters the chain below begin with the last registration, the first call’s budget and the latest values', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls, factoryOf } = nseRegistry(scheduler, cold('-(c|)'));
      const handler = registryChain([nseBeginClient({ scheduler })], next);
      // first Register: 1000 ms budget
      handler.register(nse('a'), Context.background.with(valueKey, 'first').withDeadline(scheduler.now() + 1000)).subscribe();
      // the caller registers again at 200 with a smaller budget, new values and a new URL
      cold('200ms x').subscribe(() =>
        handler.register(nse('a', { url: 'tcp://second' }), Context.background.with(valueKey, 'second').withDeadline(scheduler.now() + 300)).subscribe(),
      );
      cold('400ms x').subscribe(() => factoryOf().register().subscribe());
      flush();
      const event = calls[2] as Call<NetworkServiceEndpoint>;
      expect(event.kind).toBe('register');
      expect(event.at).toBe(400);
      expect((event.ctx.deadline as number) - event.at).toBe(1000);
      expect(event.ctx.get(valueKey)).toBe('second');
      expect(event.ctx.get(registryEventFactoryKey)).toBeDefined();
      // what the chain answered to the second Register, under its name, without the old expiration
      expect(event.item.url).toBe('tcp://answered-1');
      expect(event.item.expirationTime).toBeUndefined();
    });
  });

  it('without a first deadline, events have none either', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls, factoryOf } = nseRegistry(scheduler, cold('-(c|)'));
      const handler = registryChain([nseBegin({ scheduler })], next);
      handler.register(nse('a'), Context.background).subscribe();
      cold('10ms x').subscribe(() => factoryOf().register().subscribe());
      flush();
      expect(calls[1]?.kind).toBe('register');
      expect(calls[1]?.ctx.deadline).toBeUndefined();
    });
  });

  it('events queue behind the caller’s call in flight and emit once when done', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const reply = cold('---(c|)');
      const { next, factoryOf } = nseRegistry(scheduler, reply);
      const handler = registryChain([nseBegin({ scheduler })], next);
      handler.register(nse('a'), Context.background).subscribe();
      cold('----x').subscribe(() => handler.register(nse('a'), Context.background).subscribe());
      // the event, asked for at 5 while the second Register runs (4..7), starts at 7
      expectObservable(cold('-----(x|)').pipe(concatMap(() => factoryOf().register()))).toBe('----------(x|)', done);
      expectSubscriptions(reply.subscriptions).toBe(['^--!', '----^--!', '-------^--!']);
    });
  });

  it('the answer to an event Register is what a later Unregister sends', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls, factoryOf } = nseRegistry(scheduler, cold('-(c|)'));
      const handler = registryChain([nseBegin({ scheduler })], next);
      handler.register(nse('a'), Context.background).subscribe();
      cold('--x').subscribe(() => factoryOf().register().subscribe());
      cold('----x').subscribe(() => handler.unregister(nse('a'), Context.background).subscribe());
      flush();
      expect(calls[1]?.item.url).toBe('tcp://answered-0');
      expect(calls[2]?.kind).toBe('unregister');
      expect(calls[2]?.item.url).toBe('tcp://answered-1');
    });
  });

  it('unregister() (server) sends the kept registration and forgets the name; later events and calls find nothing', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { next, calls, log, factoryOf } = nseRegistry(scheduler, cold('-(c|)'), cold('-(x|)'));
      const begin = nseBegin({ scheduler });
      const handler = registryChain([begin], next);
      handler.register(nse('a'), Context.background).subscribe();
      // unregister event asked for at 5, answered at 6
      expectObservable(cold('-----(x|)').pipe(concatMap(() => factoryOf().unregister()))).toBe('------(x|)', done);
      cold('--------x').subscribe(() => {
        expect(begin.names.size).toBe(0);
        factoryOf().register().subscribe();
        factoryOf().unregister().subscribe();
      });
      flush();
      expect(log()).toEqual(['register a@0', 'unregister a@5']);
      expect(calls[1]?.item.expirationTime).toBeUndefined();
      expect(begin.names.size).toBe(0);
    });
  });

  it('unregister() (client) sends the last answer, expiration included', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls, factoryOf } = nseRegistry(scheduler, cold('-(c|)'));
      const begin = nseBeginClient({ scheduler });
      const handler = registryChain([begin], next);
      handler.register(nse('a'), Context.background).subscribe();
      cold('--x').subscribe(() => factoryOf().unregister().subscribe());
      flush();
      expect(calls[1]?.kind).toBe('unregister');
      expect(calls[1]?.item.expirationTime).toEqual(msToTimestamp(60_000));
      expect(begin.names.size).toBe(0);
    });
  });

  it('an event unregister that fails still forgets the name', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { next, factoryOf } = nseRegistry(scheduler, cold('-(c|)'), cold('-#', undefined, new Error('gone')));
      const begin = nseBegin({ scheduler });
      const handler = registryChain([begin], next);
      handler.register(nse('a'), Context.background).subscribe();
      expectObservable(cold('--(x|)').pipe(concatMap(() => factoryOf().unregister()))).toBe('---#', undefined, new Error('gone'));
      flush();
      expect(begin.names.size).toBe(0);
    });
  });

  it('an event whose caller leaves while it is queued is dropped; one that already started runs on and is remembered', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls, log, factoryOf } = nseRegistry(scheduler, cold('--(c|)'));
      const handler = registryChain([nseBegin({ scheduler })], next);
      handler.register(nse('a'), Context.background).subscribe();
      // queued at 1 behind the first Register (0..2); its caller leaves at 1 too: dropped
      cold('-x').subscribe(() => factoryOf().register().subscribe().unsubscribe());
      // started at 3, its caller leaves at 4: runs to its end at 5
      cold('---x').subscribe(() => {
        const event = factoryOf().register().subscribe();
        cold('-x').subscribe(() => event.unsubscribe());
      });
      cold('------x').subscribe(() => handler.unregister(nse('a'), Context.background).subscribe());
      flush();
      expect(log()).toEqual(['register a@0', 'register a@3', 'unregister a@6']);
      expect(calls[2]?.item.url).toBe('tcp://answered-1');
    });
  });

  it('an event queued while the first Register runs is skipped when that Register fails', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { next, log, factoryOf } = nseRegistry(scheduler, cold('---#', undefined, new Error('no')));
      const begin = nseBegin({ scheduler });
      const handler = registryChain([begin], next);
      handler.register(nse('a'), Context.background).subscribe({ error: () => undefined });
      // asked for at 1 from inside the Register in flight (0..3): waits, then finds nothing registered
      expectObservable(cold('-(x|)').pipe(concatMap(() => factoryOf().register()))).toBe('---|');
      expectObservable(cold('-(x|)').pipe(concatMap(() => factoryOf().unregister()))).toBe('---|');
      flush();
      expect(log()).toEqual(['register a@0']);
      expect(begin.names.size).toBe(0);
    });
  });

  it('is transparent when the context already carries a factory (client chain inside a server chain)', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls } = nseRegistry(scheduler, cold('-(c|)'));
      const outer = nseBegin({ scheduler });
      const inner = nseBeginClient({ scheduler });
      const handler = registryChain([outer, inner], next);
      handler.register(nse('a'), Context.background).subscribe();
      flush();
      expect(inner.names.size).toBe(0);
      expect(outer.names.size).toBe(1);
      expect(calls[0]?.ctx.get(registryEventFactoryKey)).toBe(outer.names.get('a'));
      handler.unregister(nse('a'), Context.background).subscribe();
      flush();
      expect(calls.map((c) => c.kind)).toEqual(['register', 'unregister']);
      expect(outer.names.size).toBe(0);
      expect(inner.names.size).toBe(0);
    });
  });
});

describe('registry begin: loops', () => {
  it('a loop replaces the one under the same key (the new one subscribed first); other keys run on', () => {
    marbles(({ cold, expectSubscriptions, flush }, scheduler) => {
      const { next, factoryOf } = nseRegistry(scheduler, of(undefined));
      const begin = nseBegin({ scheduler });
      registryChain([begin], next).register(nse('a'), Context.background).subscribe();
      const first = cold('-');
      const second = cold('-');
      const other = cold('-');
      factoryOf().loop('k', first);
      factoryOf().loop('other', other);
      cold('--x').subscribe(() => factoryOf().loop('k', second));
      cold('-----x').subscribe(() => begin.dispose());
      expectSubscriptions(first.subscriptions).toBe('^-!');
      expectSubscriptions(second.subscriptions).toBe('--^--!');
      expectSubscriptions(other.subscriptions).toBe('^----!');
      // a source both loops share is not closed and opened again in between
      let opened = 0;
      const shared = defer(() => (opened++, NEVER)).pipe(share());
      factoryOf().loop('shared', shared);
      factoryOf().loop('shared', shared);
      expect(opened).toBe(1);
      flush();
      // dispose ends the loops, not the registration
      expect(begin.names.get('a')?.state).toBe('established');
      expect(begin.names.get('a')?.loops.size).toBe(0);
    });
  });

  it('a loop that ends leaves nothing behind', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, factoryOf } = nseRegistry(scheduler, of(undefined));
      const begin = nseBegin({ scheduler });
      registryChain([begin], next).register(nse('a'), Context.background).subscribe();
      factoryOf().loop('done', cold('--|'));
      factoryOf().loop('failed', cold('---#'));
      cold('-x').subscribe(() => expect(begin.names.get('a')?.loops.size).toBe(2));
      flush();
      expect(begin.names.get('a')?.loops.size).toBe(0);
    });
  });

  it('every loop ends when an Unregister starts, the caller’s or an event', () => {
    marbles(({ cold, expectSubscriptions, flush }, scheduler) => {
      const { next, log, factoryOf } = nseRegistry(scheduler, of(undefined), cold('--(x|)'));
      const begin = nseBeginClient({ scheduler });
      const handler = registryChain([begin], next);
      handler.register(nse('a'), Context.background).subscribe();
      const caller = cold('-');
      factoryOf().loop('k', caller);
      cold('--x').subscribe(() => handler.unregister(nse('a'), Context.background).subscribe());
      cold('-----x').subscribe(() => handler.register(nse('a'), Context.background).subscribe());
      const event = cold('-');
      // the event Unregister comes from the loop it ends, and runs to its end
      cold('------x').subscribe(() => {
        factoryOf(2).loop('k', event);
        factoryOf(2).loop('expire', cold('-x').pipe(concatMap(() => factoryOf(2).unregister())));
      });
      expectSubscriptions(caller.subscriptions).toBe('^-!');
      expectSubscriptions(event.subscriptions).toBe('------^!');
      flush();
      expect(log()).toEqual(['register a@0', 'unregister a@2', 'register a@5', 'unregister a@7']);
      expect(begin.names.size).toBe(0);
    });
  });

  it('a failed first Register ends the loops it started', () => {
    marbles(({ cold, expectSubscriptions, flush }, scheduler) => {
      const loop = cold('-');
      const registry: NSEHandler = {
        register: (_item, ctx) => {
          registryEventFactoryOf(ctx)?.loop('k', loop);
          return cold('--#', undefined, new Error('no'));
        },
        find: () => EMPTY,
        unregister: () => of(undefined),
      };
      const begin = nseBegin({ scheduler });
      registryChain([begin], registry).register(nse('a'), Context.background).subscribe({ error: () => undefined });
      expectSubscriptions(loop.subscriptions).toBe('^-!');
      flush();
      expect(begin.names.size).toBe(0);
    });
  });
});

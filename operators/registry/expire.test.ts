import { Metadata } from '../core/callMetadata.js';
import { defer, EMPTY, Observable, of, throwError } from 'rxjs';
import { delay, map } from 'rxjs/operators';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { incomingCallKey } from '../../streams/grpc/serve.js';
import { Context } from '../core/context.js';
import { unavailable } from '../core/errors.js';
import { msToTimestamp, timestampToMs } from '../core/path.js';
import { registryChain, type NSEHandler } from '../core/registry.js';
import { tokenMetadata } from '../tools/token.js';
import { nseBegin, registryEventFactoryOf } from './begin.js';
import { nseExpire, type ExpireOptions } from './expire.js';
import { marbles } from '../../test/marbles.js';

const nse = (extra: Partial<NetworkServiceEndpoint> = {}) => NetworkServiceEndpoint.fromPartial({ name: 'nse-1', url: 'tcp://127.0.0.1:5001', ...extra });

/** A call context as the gRPC bridge makes it: the caller's metadata (with its token, if any) and a deadline. */
function callCtx(scheduler: TestScheduler, options: { tokenExpires?: number; budget?: number } = {}): Context {
  const metadata = options.tokenExpires === undefined ? new Metadata() : tokenMetadata({ token: 'jwt', expires: options.tokenExpires });
  const ctx = Context.background.with(incomingCallKey, { metadata, peer: 'unix:', identity: undefined });
  return options.budget === undefined ? ctx : ctx.withDeadline(scheduler.now() + options.budget);
}

interface Options extends ExpireOptions {
  /** Register answers: n-th call → what to do with the item (default: echo at once). */
  answer?: (item: NetworkServiceEndpoint, n: number) => Observable<NetworkServiceEndpoint>;
}

/** chain([nseBegin, nseExpire, fake memory registry]) recording every call below expire. */
function setup(scheduler: TestScheduler, options: Options = {}) {
  const registers: { at: number; item: NetworkServiceEndpoint }[] = [];
  const unregisters: { at: number; item: NetworkServiceEndpoint; ctx: Context }[] = [];
  const memory: NSEHandler = {
    register: (item) =>
      defer(() => {
        const n = registers.push({ at: scheduler.now(), item: NetworkServiceEndpoint.fromPartial(item) }) - 1;
        return options.answer ? options.answer(NetworkServiceEndpoint.fromPartial(item), n) : of(NetworkServiceEndpoint.fromPartial(item));
      }),
    find: () => EMPTY,
    unregister: (item, ctx) =>
      defer(() => {
        unregisters.push({ at: scheduler.now(), item: NetworkServiceEndpoint.fromPartial(item), ctx });
        return of(undefined);
      }),
  };
  const begin = nseBegin({ scheduler });
  const handler = registryChain([begin, nseExpire({ scheduler, ...options })], memory);
  const expiresOf = (i: number) => {
    const t = registers[i]?.item.expirationTime;
    return t === undefined ? undefined : timestampToMs(t);
  };
  return { handler, begin, loops: () => begin.names.get('nse-1')?.loops.size ?? 0, registers, unregisters, expiresOf, unregisterTimes: () => unregisters.map((u) => u.at) };
}

describe('nseExpire: expiration time', () => {
  it('defaults to now + 1 min, written into the NSE; unregistered through begin when it passes', () => {
    marbles(({ flush }, scheduler) => {
      const t = setup(scheduler);
      t.handler.register(nse(), callCtx(scheduler)).subscribe();
      flush();
      expect(t.expiresOf(0)).toBe(60_000);
      expect(t.unregisterTimes()).toEqual([60_000]);
      // it came through begin's event factory, and nothing is left anywhere
      expect(registryEventFactoryOf(t.unregisters[0]?.ctx as Context)).toBeDefined();
      expect(t.unregisters[0]?.item.name).toBe('nse-1');
      expect(t.begin.names.size).toBe(0);
      expect(t.loops()).toBe(0);
      expect(scheduler.actions).toHaveLength(0);
    });
  });

  it('the caller’s token expiry wins when earlier; the Unregister comes the Register’s budget before it', () => {
    marbles(({ flush }, scheduler) => {
      const t = setup(scheduler, { defaultPeriod: 60_000 });
      t.handler.register(nse(), callCtx(scheduler, { tokenExpires: 30_000, budget: 1000 })).subscribe();
      flush();
      expect(t.expiresOf(0)).toBe(30_000);
      expect(t.unregisterTimes()).toEqual([29_000]);
    });
  });

  it('a budget above a short token lifetime (15 s budget, 3 s token) unregisters at 5/6 of it, after the client’s refresh at 2/3 (upstream: at once)', () => {
    marbles(({ flush }, scheduler) => {
      const t = setup(scheduler, { defaultPeriod: 60_000 });
      t.handler.register(nse(), callCtx(scheduler, { tokenExpires: 3000, budget: 15_000 })).subscribe();
      flush();
      expect(t.unregisterTimes()).toEqual([2500]);
    });
    marbles(({ cold, flush }, scheduler) => {
      // refreshed at 2/3 of each token: never unregistered while the refreshes come
      const t = setup(scheduler, { defaultPeriod: 60_000 });
      t.handler.register(nse(), callCtx(scheduler, { tokenExpires: 3000, budget: 15_000 })).subscribe();
      cold('2000ms a 1999ms b').subscribe(() => t.handler.register(nse(), callCtx(scheduler, { tokenExpires: scheduler.now() + 3000, budget: 15_000 })).subscribe());
      flush();
      expect(t.registers.map((r) => r.at)).toEqual([0, 2000, 4000]);
      expect(t.unregisterTimes()).toEqual([6500]);
    });
  });

  it('the default period wins over a later token expiry', () => {
    marbles(({ flush }, scheduler) => {
      const t = setup(scheduler, { defaultPeriod: 10_000 });
      t.handler.register(nse(), callCtx(scheduler, { tokenExpires: 30_000 })).subscribe();
      flush();
      expect(t.expiresOf(0)).toBe(10_000);
      expect(t.unregisterTimes()).toEqual([10_000]);
    });
  });

  it('an earlier expiration the NSE asked for itself is kept; a later one is replaced', () => {
    marbles(({ flush }, scheduler) => {
      const early = setup(scheduler, { defaultPeriod: 10_000 });
      early.handler.register(nse({ expirationTime: msToTimestamp(4000) }), callCtx(scheduler)).subscribe();
      const late = setup(scheduler, { defaultPeriod: 10_000 });
      late.handler.register(nse({ expirationTime: msToTimestamp(40_000) }), callCtx(scheduler)).subscribe();
      flush();
      expect(early.expiresOf(0)).toBe(4000);
      expect(early.unregisterTimes()).toEqual([4000]);
      expect(late.expiresOf(0)).toBe(10_000);
      expect(late.unregisterTimes()).toEqual([10_000]);
    });
  });

  it('an earlier expiration in the answer sets the timer', () => {
    marbles(({ flush }, scheduler) => {
      const t = setup(scheduler, { defaultPeriod: 10_000, answer: (item) => of({ ...item, expirationTime: msToTimestamp(3000) }) });
      t.handler.register(nse(), callCtx(scheduler)).subscribe();
      flush();
      expect(t.unregisterTimes()).toEqual([3000]);
    });
  });

  it('without a token and with no default period, nothing expires', () => {
    marbles(({ flush }, scheduler) => {
      const t = setup(scheduler, { defaultPeriod: 0 });
      t.handler.register(nse(), callCtx(scheduler)).subscribe();
      flush();
      expect(t.expiresOf(0)).toBeUndefined();
      expect(t.unregisters).toEqual([]);
      expect(t.loops()).toBe(0);
    });
  });

  it('the caller’s NSE object is not modified', () => {
    marbles(({ flush }, scheduler) => {
      const t = setup(scheduler, { defaultPeriod: 10_000 });
      const mine = nse();
      t.handler.register(mine, callCtx(scheduler)).subscribe();
      flush();
      expect(t.expiresOf(0)).toBe(10_000);
      expect(mine.expirationTime).toBeUndefined();
    });
  });
});

describe('nseExpire: timers', () => {
  it('a re-Register (refresh) re-arms from its own time', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { defaultPeriod: 10_000 });
      t.handler.register(nse(), callCtx(scheduler)).subscribe();
      cold('6000ms x').subscribe(() => t.handler.register(nse(), callCtx(scheduler)).subscribe());
      flush();
      expect(t.expiresOf(1)).toBe(16_000);
      expect(t.unregisterTimes()).toEqual([16_000]);
    });
  });

  it('Unregister disarms: nothing is left scheduled or kept per name', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { defaultPeriod: 10_000 });
      t.handler.register(nse(), callCtx(scheduler)).subscribe();
      cold('3000ms x').subscribe(() => t.handler.unregister(nse(), callCtx(scheduler)).subscribe());
      cold('3001ms x').subscribe(() => {
        expect(scheduler.actions).toHaveLength(0);
        expect(t.loops()).toBe(0);
        expect(t.begin.names.size).toBe(0);
      });
      flush();
      expect(t.unregisterTimes()).toEqual([3000]);
    });
  });

  it('a failed re-Register keeps the earlier timer', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, {
        defaultPeriod: 10_000,
        answer: (item, n) => (n === 1 ? throwError(() => unavailable('memory is down')) : of(item)),
      });
      t.handler.register(nse(), callCtx(scheduler)).subscribe();
      cold('6000ms x').subscribe(() => t.handler.register(nse(), callCtx(scheduler)).subscribe({ error: () => undefined }));
      flush();
      expect(t.registers.map((r) => r.at)).toEqual([0, 6000]);
      expect(t.unregisterTimes()).toEqual([10_000]);
    });
  });

  it('a re-Register in flight when the timer fires wins: the queued Unregister is dropped', () => {
    marbles(({ cold, flush }, scheduler) => {
      // the second Register takes 20 ms (9990..10010) and spans the expiry at 10000
      const t = setup(scheduler, { defaultPeriod: 10_000, answer: (item, n) => (n === 1 ? of(item).pipe(delay(20, scheduler)) : of(item)) });
      t.handler.register(nse(), callCtx(scheduler)).subscribe();
      cold('9990ms x').subscribe(() => t.handler.register(nse(), callCtx(scheduler)).subscribe());
      cold('10500ms x').subscribe(() => expect(t.begin.names.size).toBe(1));
      flush();
      // the new expiration counts from the start of the second Register: 9990 + 10000
      expect(t.unregisterTimes()).toEqual([19_990]);
    });
  });

  it('names are independent', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { defaultPeriod: 10_000 });
      t.handler.register(nse({ name: 'a' }), callCtx(scheduler)).subscribe();
      cold('2000ms x').subscribe(() => t.handler.register(nse({ name: 'b' }), callCtx(scheduler)).subscribe());
      cold('3000ms x').subscribe(() => t.handler.unregister(nse({ name: 'a' }), callCtx(scheduler)).subscribe());
      flush();
      expect(t.unregisters.map((u) => `${u.item.name}@${u.at}`)).toEqual(['a@3000', 'b@12000']);
    });
  });

  it('without a begin it still sets the expiration but arms nothing', () => {
    marbles(({ flush }, scheduler) => {
      const seen: NetworkServiceEndpoint[] = [];
      const expire = nseExpire({ scheduler, defaultPeriod: 5000 });
      const handler = registryChain([expire], {
        register: (item) => (seen.push(item), of(item)),
        find: () => EMPTY,
        unregister: () => of(undefined),
      });
      handler.register(nse(), callCtx(scheduler)).pipe(map((x) => x.name)).subscribe();
      expect(scheduler.actions).toHaveLength(0);
      flush();
      expect(timestampToMs(seen[0]?.expirationTime as NonNullable<NetworkServiceEndpoint['expirationTime']>)).toBe(5000);
    });
  });
});

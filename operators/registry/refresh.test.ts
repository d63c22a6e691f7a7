import { defer, EMPTY, of, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { unavailable } from '../core/errors.js';
import { msToTimestamp } from '../core/path.js';
import { registryChain, type NSEHandler } from '../core/registry.js';
import { nseBegin, nseBeginClient } from './begin.js';
import { nseExpire } from './expire.js';
import { nseRefresh, registryRefreshAfter } from './refresh.js';
import { marbles } from '../../test/marbles.js';

const nse = () => NetworkServiceEndpoint.fromPartial({ name: 'nse-1', networkServiceNames: ['ns'], url: 'tcp://127.0.0.1:5001' });

/**
 * chain([nseBeginClient, nseRefresh, fake registry]): the registry answers at once with an
 * expiration `lifetime` ms from now and fails the calls `failAt` names. After 20 calls it stops
 * setting an expiration, so a runaway refresh loop cannot run forever.
 */
function setup(scheduler: TestScheduler, options: { lifetime?: number; failAt?: readonly number[] } = {}) {
  const lifetime = options.lifetime ?? 3000;
  const registers: { at: number; item: NetworkServiceEndpoint; ctx: Context }[] = [];
  const failures: number[] = [];
  const unregisters: number[] = [];
  const registry: NSEHandler = {
    register: (item, ctx) =>
      defer(() => {
        const n = registers.push({ at: scheduler.now(), item: NetworkServiceEndpoint.fromPartial(item), ctx }) - 1;
        if (options.failAt?.includes(n)) {
          failures.push(scheduler.now());
          return throwError(() => unavailable(`register ${n} failed`));
        }
        return of(NetworkServiceEndpoint.fromPartial({ ...item, expirationTime: n < 20 ? msToTimestamp(scheduler.now() + lifetime) : undefined }));
      }),
    find: () => EMPTY,
    unregister: () =>
      defer(() => {
        unregisters.push(scheduler.now());
        return of(undefined);
      }),
  };
  const begin = nseBeginClient({ scheduler });
  const handler = registryChain([begin, nseRefresh({ scheduler })], registry);
  return { handler, begin, loops: () => begin.names.get('nse-1')?.loops.size ?? 0, registers, failures, unregisters, times: () => registers.map((r) => r.at) };
}

describe('registryRefreshAfter', () => {
  it('is 2/3 of the time left, never negative', () => {
    expect(registryRefreshAfter(60_000, 0)).toBe(40_000);
    expect(registryRefreshAfter(4000, 1000)).toBe(2000);
    expect(registryRefreshAfter(500, 1000)).toBe(0);
  });
});

describe('nseRefresh', () => {
  it('re-registers through begin at 2/3 of the time left, again and again', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { lifetime: 3000 });
      t.handler.register(nse(), Context.background).subscribe();
      cold('7000ms x').subscribe(() => t.handler.unregister(nse(), Context.background).subscribe());
      flush();
      expect(t.times()).toEqual([0, 2000, 4000, 6000]);
      expect(t.unregisters).toEqual([7000]);
    });
  });

  it('a refresh sends what begin kept (no expiration: the registry picks a new one) with the first call’s budget', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { lifetime: 3000 });
      t.handler.register(nse(), Context.background.withDeadline(500)).subscribe();
      cold('2500ms x').subscribe(() => t.handler.unregister(nse(), Context.background).subscribe());
      flush();
      const refresh = t.registers[1];
      expect(refresh?.at).toBe(2000);
      expect(refresh?.item.name).toBe('nse-1');
      expect(refresh?.item.expirationTime).toBeUndefined();
      expect((refresh?.ctx.deadline as number) - 2000).toBe(500);
    });
  });

  it('failed refreshes are retried every 200 ms until one succeeds', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { lifetime: 3000, failAt: [1, 2, 3] });
      t.handler.register(nse(), Context.background).subscribe();
      cold('3000ms x').subscribe(() => t.handler.unregister(nse(), Context.background).subscribe());
      flush();
      // 2000 fails, 2200 fails, 2400 fails, 2600 ok (expires 5600 → next at 4600, after the Unregister)
      expect(t.failures).toEqual([2000, 2200, 2400]);
      expect(t.times()).toEqual([0, 2000, 2200, 2400, 2600]);
    });
  });

  it('Unregister stops it: nothing scheduled, nothing kept per name', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { lifetime: 3000 });
      t.handler.register(nse(), Context.background).subscribe();
      cold('500ms x').subscribe(() => t.handler.unregister(nse(), Context.background).subscribe());
      cold('501ms x').subscribe(() => {
        expect(scheduler.actions).toHaveLength(0);
        expect(t.loops()).toBe(0);
        expect(t.begin.names.size).toBe(0);
      });
      flush();
      expect(t.times()).toEqual([0]);
      expect(t.unregisters).toEqual([500]);
    });
  });

  it('Unregister during the retry loop stops the retries', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { lifetime: 3000, failAt: [1, 2, 3, 4, 5, 6, 7, 8] });
      t.handler.register(nse(), Context.background).subscribe();
      cold('2300ms x').subscribe(() => t.handler.unregister(nse(), Context.background).subscribe());
      flush();
      expect(t.times()).toEqual([0, 2000, 2200]);
      expect(t.loops()).toBe(0);
    });
  });

  it('a caller re-Register re-arms: the earlier schedule is dropped', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { lifetime: 3000 });
      t.handler.register(nse(), Context.background).subscribe();
      cold('900ms x').subscribe(() => t.handler.register(nse(), Context.background).subscribe());
      cold('3500ms x').subscribe(() => t.handler.unregister(nse(), Context.background).subscribe());
      flush();
      expect(t.times()).toEqual([0, 900, 2900]);
    });
  });

  it('a Register after an Unregister arms it again', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { lifetime: 3000 });
      t.handler.register(nse(), Context.background).subscribe();
      cold('500ms x').subscribe(() => t.handler.unregister(nse(), Context.background).subscribe());
      cold('1000ms x').subscribe(() => t.handler.register(nse(), Context.background).subscribe());
      cold('3500ms x').subscribe(() => t.handler.unregister(nse(), Context.background).subscribe());
      flush();
      expect(t.times()).toEqual([0, 1000, 3000]);
      expect(t.unregisters).toEqual([500, 3500]);
    });
  });

  it('an answer without expiration_time is never refreshed', () => {
    marbles(({ flush }, scheduler) => {
      const times: number[] = [];
      const registry: NSEHandler = {
        register: (item) => defer(() => (times.push(scheduler.now()), of(NetworkServiceEndpoint.fromPartial(item)))),
        find: () => EMPTY,
        unregister: () => of(undefined),
      };
      const begin = nseBeginClient({ scheduler });
      registryChain([begin, nseRefresh({ scheduler })], registry).register(nse(), Context.background).subscribe();
      flush();
      expect(times).toEqual([0]);
      expect(begin.names.get('nse-1')?.loops.size).toBe(0);
    });
  });

  it('a failed first Register arms nothing', () => {
    marbles(({ flush }, scheduler) => {
      const t = setup(scheduler, { failAt: [0] });
      t.handler.register(nse(), Context.background).subscribe({ error: () => undefined });
      flush();
      expect(t.times()).toEqual([0]);
      expect(t.loops()).toBe(0);
      expect(scheduler.actions).toHaveLength(0);
    });
  });
});

describe('nseRefresh against a registry with nseExpire', () => {
  /** client chain → (the wire: a fresh context with the same deadline) → server chain [begin, expire(3 s)] → memory. */
  function mesh(scheduler: TestScheduler, withRefresh: boolean) {
    const stored: string[] = [];
    const memory: NSEHandler = {
      register: (item) => defer(() => (stored.push(`register@${scheduler.now()}`), of(NetworkServiceEndpoint.fromPartial(item)))),
      find: () => EMPTY,
      unregister: () => defer(() => (stored.push(`unregister@${scheduler.now()}`), of(undefined))),
    };
    const serverBegin = nseBegin({ scheduler });
    const server = registryChain([serverBegin, nseExpire({ scheduler, defaultPeriod: 3000 })], memory);
    const wire = (ctx: Context) => Context.background.withDeadline(ctx.deadline);
    const toServer: NSEHandler = {
      register: (item, ctx) => server.register(NetworkServiceEndpoint.fromPartial(item), wire(ctx)),
      find: (q, ctx) => server.find(q, wire(ctx)),
      unregister: (item, ctx) => server.unregister(NetworkServiceEndpoint.fromPartial(item), wire(ctx)),
    };
    const clientBegin = nseBeginClient({ scheduler });
    const client = registryChain(withRefresh ? [clientBegin, nseRefresh({ scheduler })] : [clientBegin], toServer);
    return { client, stored, serverBegin, clientBegin };
  }

  it('the refreshes keep the registration alive past the server’s expiry', () => {
    marbles(({ cold, flush }, scheduler) => {
      const m = mesh(scheduler, true);
      m.client.register(nse(), Context.background.withDeadline(100)).subscribe();
      cold('7000ms x').subscribe(() => m.client.unregister(nse(), Context.background).subscribe());
      flush();
      // expiry 3000 → refresh at 2000 → expiry 5000 → refresh at 4000 → … ; never expired
      expect(m.stored).toEqual(['register@0', 'register@2000', 'register@4000', 'register@6000', 'unregister@7000']);
      expect(m.serverBegin.names.size).toBe(0);
      expect(m.clientBegin.names.size).toBe(0);
      expect(scheduler.actions).toHaveLength(0);
    });
  });

  it('without refresh the server unregisters it at expiry − budget', () => {
    marbles(({ flush }, scheduler) => {
      const m = mesh(scheduler, false);
      m.client.register(nse(), Context.background.withDeadline(100)).subscribe();
      flush();
      expect(m.stored).toEqual(['register@0', 'unregister@2900']);
      expect(m.serverBegin.names.size).toBe(0);
    });
  });
});

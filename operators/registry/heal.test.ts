import { defer, NEVER, Observable, of, throwError } from 'rxjs';
import { map } from 'rxjs/operators';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import {
  NetworkService,
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
  type NetworkServiceQuery,
  type NetworkServiceResponse,
} from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { unavailable } from '../core/errors.js';
import { registryChain, type NSEHandler, type NSHandler, watchReopenedByCallerKey } from '../core/registry.js';
import { nsBeginClient, nseBeginClient } from './begin.js';
import { nseHeal, nsHeal } from './heal.js';
import { marbles } from '../../test/marbles.js';

const nse = (name = 'nse-1') => NetworkServiceEndpoint.fromPartial({ name, networkServiceNames: ['ns'], url: 'tcp://127.0.0.1:5001' });
const response = (name: string): NetworkServiceEndpointResponse => ({ networkServiceEndpoint: nse(name), deleted: false });
const values = { a: response('nse-1'), b: response('nse-2') };

/**
 * chain([nseBeginClient, nseHeal, fake registry]): the n-th Register answers with
 * `register(n)` (default: at once), the n-th Find is `find(n)` (default: a watch that never ends).
 */
function setup(
  scheduler: TestScheduler,
  options: { register?: (n: number) => Observable<unknown>; find?: (n: number) => Observable<NetworkServiceEndpointResponse> } = {},
) {
  const registers: number[] = [];
  const unregisters: number[] = [];
  const finds: { at: number; query: NetworkServiceEndpointQuery; ctx: Context }[] = [];
  const registry: NSEHandler = {
    register: (item) =>
      defer(() => {
        const n = registers.push(scheduler.now()) - 1;
        return (options.register?.(n) ?? of(undefined)).pipe(map(() => NetworkServiceEndpoint.fromPartial(item)));
      }),
    find: (query, ctx) =>
      defer(() => {
        const n = finds.push({ at: scheduler.now(), query: NetworkServiceEndpointQuery.fromPartial(query), ctx }) - 1;
        return options.find?.(n) ?? NEVER;
      }),
    unregister: () =>
      defer(() => {
        unregisters.push(scheduler.now());
        return of(undefined);
      }),
  };
  const begin = nseBeginClient({ scheduler });
  const handler = registryChain([begin, nseHeal({ scheduler })], registry);
  return { handler, begin, loops: () => begin.names.get('nse-1')?.loops.size ?? 0, registers, unregisters, finds, findTimes: () => finds.map((f) => f.at) };
}

describe('nseHeal: watching a registration', () => {
  it('after a Register keeps Find{name, watch} open, without deadline; Unregister cancels it', () => {
    marbles(({ cold, expectSubscriptions, flush }, scheduler) => {
      const watch = cold<NetworkServiceEndpointResponse>('-a------', values);
      const t = setup(scheduler, { find: () => watch });
      t.handler.register(nse(), Context.background.withDeadline(100)).subscribe();
      cold('10ms x').subscribe(() => t.handler.unregister(nse(), Context.background).subscribe());
      expectSubscriptions(watch.subscriptions).toBe('^---------!');
      flush();
      expect(t.finds[0]?.query).toEqual(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { name: 'nse-1' }, watch: true }));
      expect(t.finds[0]?.ctx.deadline).toBeUndefined();
      expect(t.registers).toEqual([0]);
      expect(t.loops()).toBe(0);
      expect(t.begin.names.size).toBe(0);
    });
  });

  it('a lost watch (error) re-registers through begin and watches again', () => {
    marbles(({ cold, expectSubscriptions, flush }, scheduler) => {
      const lost = cold<NetworkServiceEndpointResponse>('-a 250ms #', values, unavailable('registry died'));
      const again = cold<NetworkServiceEndpointResponse>('-a-', values);
      const t = setup(scheduler, { find: (n) => (n === 0 ? lost : again) });
      t.handler.register(nse(), Context.background).subscribe();
      cold('400ms x').subscribe(() => t.handler.unregister(nse(), Context.background).subscribe());
      expectSubscriptions(lost.subscriptions).toBe('^ 251ms !');
      expectSubscriptions(again.subscriptions).toBe('252ms ^ 147ms !');
      flush();
      expect(t.registers).toEqual([0, 252]);
      expect(t.unregisters).toEqual([400]);
    });
  });

  it('a watch the registry ends (completes) counts as lost too', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { find: (n) => (n === 0 ? cold<NetworkServiceEndpointResponse>('-a 250ms |', values) : NEVER) });
      t.handler.register(nse(), Context.background).subscribe();
      cold('400ms x').subscribe(() => t.handler.unregister(nse(), Context.background).subscribe());
      flush();
      expect(t.registers).toEqual([0, 252]);
      expect(t.findTimes()).toEqual([0, 252]);
    });
  });

  it('a failing re-Register is tried every 200 ms until it works, then the name is watched again', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, {
        register: (n) => (n >= 1 && n <= 3 ? throwError(() => unavailable('registry still down')) : of(undefined)),
        find: (n) => (n === 0 ? cold<NetworkServiceEndpointResponse>('250ms #', undefined, unavailable('registry died')) : NEVER),
      });
      t.handler.register(nse(), Context.background).subscribe();
      cold('1000ms x').subscribe(() => t.handler.unregister(nse(), Context.background).subscribe());
      flush();
      expect(t.registers).toEqual([0, 250, 450, 650, 850]);
      expect(t.findTimes()).toEqual([0, 850]);
      expect(t.loops()).toBe(0);
    });
  });

  it('Unregister during the re-Register loop stops it and leaves nothing behind', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, {
        register: (n) => (n >= 1 ? throwError(() => unavailable('registry still down')) : of(undefined)),
        find: () => cold<NetworkServiceEndpointResponse>('250ms #', undefined, unavailable('registry died')),
      });
      t.handler.register(nse(), Context.background).subscribe();
      cold('500ms x').subscribe(() => t.handler.unregister(nse(), Context.background).subscribe());
      cold('501ms x').subscribe(() => {
        expect(scheduler.actions).toHaveLength(0);
        expect(t.loops()).toBe(0);
        expect(t.begin.names.size).toBe(0);
      });
      flush();
      expect(t.registers).toEqual([0, 250, 450]);
      expect(t.unregisters).toEqual([500]);
    });
  });

  it('a watch lost soon after it opened waits out 200 ms before re-registering (a Find that always fails cannot spin)', () => {
    marbles(({ cold, flush }, scheduler) => {
      const t = setup(scheduler, { find: () => cold<NetworkServiceEndpointResponse>('-#', undefined, unavailable('find refused')) });
      t.handler.register(nse(), Context.background).subscribe();
      cold('900ms x').subscribe(() => t.handler.unregister(nse(), Context.background).subscribe());
      flush();
      expect(t.registers).toEqual([0, 200, 400, 600, 800]);
      expect(t.findTimes()).toEqual([0, 200, 400, 600, 800]);
      expect(t.loops()).toBe(0);
      expect(scheduler.actions).toHaveLength(0);
    });
  });

  it('a failed Register opens no watch', () => {
    marbles(({ flush }, scheduler) => {
      const t = setup(scheduler, { register: () => throwError(() => unavailable('no registry')) });
      t.handler.register(nse(), Context.background).subscribe({ error: () => undefined });
      flush();
      expect(t.finds).toEqual([]);
      expect(t.loops()).toBe(0);
    });
  });

  it('a caller re-Register replaces the watch: one watch per name', () => {
    marbles(({ cold, expectSubscriptions, flush }, scheduler) => {
      const first = cold<NetworkServiceEndpointResponse>('-', values);
      const second = cold<NetworkServiceEndpointResponse>('-', values);
      const t = setup(scheduler, { find: (n) => (n === 0 ? first : second) });
      t.handler.register(nse(), Context.background).subscribe();
      cold('4ms x').subscribe(() => t.handler.register(nse(), Context.background).subscribe());
      cold('9ms x').subscribe(() => t.handler.unregister(nse(), Context.background).subscribe());
      expectSubscriptions(first.subscriptions).toBe('^---!');
      expectSubscriptions(second.subscriptions).toBe('----^----!');
      flush();
      expect(t.loops()).toBe(0);
    });
  });
});

describe('nseHeal: watch Finds reconnect', () => {
  it('a watch Find that errors or ends is opened again 200 ms later, until unsubscribed', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const t = setup(scheduler, {
        find: (n) =>
          n === 0
            ? cold<NetworkServiceEndpointResponse>('-a-#', values, unavailable('registry died'))
            : n === 1
              ? cold<NetworkServiceEndpointResponse>('-b|', values)
              : cold<NetworkServiceEndpointResponse>('-a-', values),
      });
      const query = NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { networkServiceNames: ['ns'] }, watch: true });
      // a at 1, error at 3 → reopened at 203: b at 204, ends at 205 → reopened at 405: a at 406
      expectObservable(t.handler.find(query, Context.background), '^ 500ms !').toBe('-a 202ms b 201ms a', values);
      flush();
      expect(t.findTimes()).toEqual([0, 203, 405]);
    });
  });

  it('a watch Find stops reconnecting once its deadline passed', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const t = setup(scheduler, { find: () => cold<NetworkServiceEndpointResponse>('-a--#', values, unavailable('gone')) });
      const query = NetworkServiceEndpointQuery.fromPartial({ watch: true });
      // tries at 0 (fails at 4), 204 (fails at 208), 408: fails at 412, past the deadline (300): the error is the caller's
      expectObservable(t.handler.find(query, Context.background.withDeadline(300))).toBe('-a 203ms a 203ms a--#', values, unavailable('gone'));
    });
  });

  it('a watch Find whose caller reopens it itself (liveFind) is passed through: its break reaches the caller', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const t = setup(scheduler, { find: () => cold<NetworkServiceEndpointResponse>('-a-#', values, unavailable('registry died')) });
      const query = NetworkServiceEndpointQuery.fromPartial({ watch: true });
      expectObservable(t.handler.find(query, Context.background.with(watchReopenedByCallerKey, true))).toBe('-a-#', values, unavailable('registry died'));
      flush();
      expect(t.findTimes()).toEqual([0]);
    });
  });

  it('a Find without watch is passed through as is', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const t = setup(scheduler, { find: () => cold<NetworkServiceEndpointResponse>('-a#', values, unavailable('gone')) });
      expectObservable(t.handler.find(NetworkServiceEndpointQuery.fromPartial({ watch: false }), Context.background)).toBe('-a#', values, unavailable('gone'));
    });
  });
});

describe('nsHeal', () => {
  it('watches Find{name, watch} of the network service and re-registers it when the watch is lost', () => {
    marbles(({ cold, flush }, scheduler) => {
      const finds: { at: number; query: NetworkServiceQuery }[] = [];
      const registers: number[] = [];
      const registry: NSHandler = {
        register: (item) => defer(() => (registers.push(scheduler.now()), of(NetworkService.fromPartial(item)))),
        find: (query) =>
          defer(() => {
            const n = finds.push({ at: scheduler.now(), query }) - 1;
            return n === 0 ? cold<NetworkServiceResponse>('250ms #', undefined, unavailable('registry died')) : NEVER;
          }),
        unregister: () => of(undefined),
      };
      const begin = nsBeginClient({ scheduler });
      const handler = registryChain([begin, nsHeal({ scheduler })], registry);
      handler.register(NetworkService.fromPartial({ name: 'my-ns', payload: 'ETHERNET' }), Context.background).subscribe();
      cold('400ms x').subscribe(() => handler.unregister(NetworkService.fromPartial({ name: 'my-ns' }), Context.background).subscribe());
      flush();
      expect(finds[0]?.query.networkService?.name).toBe('my-ns');
      expect(finds[0]?.query.watch).toBe(true);
      expect(registers).toEqual([0, 250]);
      expect(finds.map((f) => f.at)).toEqual([0, 250]);
      expect(begin.names.get('my-ns')?.loops.size ?? 0).toBe(0);
    });
  });
});

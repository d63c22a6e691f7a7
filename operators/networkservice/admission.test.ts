import { status } from '../core/status.js';
import { of, throwError, timer, type SchedulerLike } from 'rxjs';
import { map, mergeMap } from 'rxjs/operators';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { marbles } from '../../test/marbles.js';
import { Context } from '../core/context.js';
import { NsmError, unavailable } from '../core/errors.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { admission } from './admission.js';

/** A Request the rest of the chain answers after `ms` (failing when `fail`). */
const req = (id: string, ms: number, fail = false) => NetworkServiceRequest.fromPartial({ connection: { id, context: { extraContext: { ms: String(ms), ...(fail ? { fail: 'yes' } : {}) } } } });

/** The rest of the chain: answers a `req` after its `ms`, failing it when asked. */
const slow = (scheduler: SchedulerLike): NetworkServiceHandler => ({
  request: (r) => {
    const extra = r.connection?.context?.extraContext ?? {};
    return timer(Number(extra['ms']), scheduler).pipe(mergeMap(() => (extra['fail'] ? throwError(() => unavailable('down')) : of(Connection.fromPartial({ id: r.connection?.id ?? '' })))));
  },
  close: () => of(undefined),
});

describe('admission', () => {
  it('answers RESOURCE_EXHAUSTED naming the bound while maxInFlight Requests run; an answered, failed or cancelled one makes room; Close always passes', () => {
    marbles(({ flush }, scheduler) => {
      const gate = admission({ maxInFlight: 2, name: 'nsmgr', setting: 'NSM_MAX_REQUESTS_IN_FLIGHT' });
      const handler = chain([gate], slow(scheduler));
      const seen: string[] = [];
      const send = (at: number, id: string, ms: number, fail = false) =>
        scheduler.schedule(() => {
          handler.request(req(id, ms, fail), Context.background).subscribe({
            next: (c) => seen.push(`${scheduler.now()} ${c.id} ok`),
            error: (e: NsmError) => seen.push(`${scheduler.now()} ${id} ${status[e.code]}: ${e.message}`),
          });
        }, at);
      send(0, 'a', 10);
      send(2, 'b', 5, true); // fails at 7
      send(4, 'c', 1); // two in flight: refused
      send(8, 'd', 1); // b failed: room again
      scheduler.schedule(() => handler.close(Connection.fromPartial({ id: 'x' }), Context.background).subscribe(() => seen.push(`${scheduler.now()} close ok`)), 4);
      // A cancelled Request leaves the count: e is unsubscribed at 13, f (at 14) is admitted.
      scheduler.schedule(() => {
        const e = handler.request(req('e', 100), Context.background).subscribe();
        const g = handler.request(req('g', 100), Context.background).subscribe();
        scheduler.schedule(() => e.unsubscribe(), 1);
        void g;
      }, 12);
      send(13, 'h', 1); // e and g in flight: refused
      send(14, 'f', 1);
      let midway = -1;
      scheduler.schedule(() => (midway = gate.inFlight()), 20);
      flush();
      const refused = (id: string, at: number) => `${at} ${id} RESOURCE_EXHAUSTED: nsmgr: 2 Requests in flight, at most 2 (NSM_MAX_REQUESTS_IN_FLIGHT); try again later`;
      expect(seen).toEqual([refused('c', 4), '4 close ok', '7 b UNAVAILABLE: down', '9 d ok', '10 a ok', refused('h', 13), '15 f ok']);
      expect(midway).toBe(1); // g, answered at 112
      expect(gate.inFlight()).toBe(0);
    });
  });

  it('with a deadline, a Request past the bound waits its turn, first come first served, for up to half its time left', () => {
    marbles(({ flush }, scheduler) => {
      const gate = admission({ maxInFlight: 1, name: 'nsmgr', setting: 'NSM_MAX_REQUESTS_IN_FLIGHT', scheduler });
      const handler = chain([gate], slow(scheduler));
      const seen: string[] = [];
      const send = (at: number, id: string, ms: number, budget: number, fail = false) =>
        scheduler.schedule(() => {
          const sub = handler.request(req(id, ms, fail), Context.background.withDeadline(scheduler.now() + budget)).subscribe({
            next: (c) => seen.push(`${scheduler.now()} ${c.id} ok`),
            error: (e: NsmError) => seen.push(`${scheduler.now()} ${id} ${status[e.code]}: ${e.message}`),
          });
          if (id === 'e') scheduler.schedule(() => sub.unsubscribe(), 3); // gives up while waiting
        }, at);
      send(0, 'a', 10, 100);
      send(1, 'b', 5, 100, true); // waits for a; its turn at 10 (run on the scheduler), fails at 15
      send(2, 'c', 5, 8); // may wait 4: refused at 6
      send(3, 'e', 5, 100); // leaves the line at 6
      send(4, 'd', 5, 100); // after b: ok at 20
      scheduler.schedule(() => seen.push(`5 waiting ${gate.waiting()}`), 5);
      flush();
      expect(seen).toEqual([
        '5 waiting 4',
        '6 c RESOURCE_EXHAUSTED: nsmgr: 1 Requests in flight, at most 1 (NSM_MAX_REQUESTS_IN_FLIGHT), 3 waiting; no turn within 4 ms, half the Request\'s time left; try again later',
        '10 a ok',
        '15 b UNAVAILABLE: down',
        '20 d ok',
      ]);
      expect(gate.inFlight()).toBe(0);
      expect(gate.waiting()).toBe(0);
    });
  });

  it('a line of Requests that fail at once is worked off turn by turn, not on one stack', () => {
    marbles(({ flush }, scheduler) => {
      const gate = admission({ maxInFlight: 1, name: 'nsmgr', setting: 'X', scheduler });
      let first = true;
      const handler = chain([gate], {
        request: () => (first ? ((first = false), timer(1, scheduler).pipe(map(() => Connection.fromPartial({ id: 'a' })))) : throwError(() => unavailable('no'))),
        close: () => of(undefined),
      });
      let failed = 0;
      const budget = Context.background.withDeadline(1_000_000);
      handler.request(req('a', 1), budget).subscribe();
      for (let i = 0; i < 3_000; i++) handler.request(req(`w${i}`, 1), budget).subscribe({ error: () => failed++ });
      expect(gate.waiting()).toBe(3_000);
      flush();
      expect(failed).toBe(3_000);
      expect(gate.inFlight()).toBe(0);
    });
  });

  it('0 is no bound, as upstream', () => {
    marbles(({ flush }, scheduler) => {
      const gate = admission({ maxInFlight: 0, name: 'nsmgr', setting: 'X' });
      const handler = chain([gate], { request: (r) => timer(5, scheduler).pipe(map(() => Connection.fromPartial({ id: r.connection?.id ?? '' }))), close: () => of(undefined) });
      let ok = 0;
      for (let i = 0; i < 1000; i++) handler.request(req(`c${i}`, 5), Context.background).subscribe(() => ok++);
      expect(gate.inFlight()).toBe(1000);
      flush();
      expect(ok).toBe(1000);
      expect(gate.inFlight()).toBe(0);
    });
  });
});

import { firstValueFrom, lastValueFrom, NEVER, of, throwError, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { internal } from '../core/errors.js';
import { msToTimestamp } from '../core/path.js';
import { registryChain, registryTail, type NSEHandler } from '../core/registry.js';
import { newNSEStore, nseMemory } from './memory.js';
import { setRegistrationTime } from './setRegistrationTime.js';

const ctx = Context.background;
const testNse = (extra: Partial<NetworkServiceEndpoint> = {}) => NetworkServiceEndpoint.fromPartial({ name: 'nse', url: 'tcp://127.0.0.1:5002', ...extra });

/** A clock the test moves by hand (clockmock). */
function clock(start = 1_000_000) {
  let now = start;
  return { scheduler: { now: () => now, schedule: () => undefined as never }, add: (ms: number) => (now += ms), now: () => now };
}

describe('setRegistrationTime (TestRegTimeServer_Register)', () => {
  it('sets the time once, keeps it on refresh (even when the refresh omits it), forgets it on Unregister', async () => {
    const c = clock();
    const element = setRegistrationTime({ scheduler: c.scheduler });
    const store = newNSEStore();
    const handler = registryChain([element, nseMemory(store, { scheduler: c.scheduler })]);

    // 1. Register
    const reg = await firstValueFrom(handler.register(testNse(), ctx));
    expect(reg.initialRegistrationTime).toEqual(msToTimestamp(c.now()));
    const first = reg.initialRegistrationTime;

    // 2. Find
    const found = await lastValueFrom(handler.find({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({}), watch: false }, ctx).pipe(toArray()));
    expect(found.map((r) => r.networkServiceEndpoint?.initialRegistrationTime)).toEqual([first]);

    // 3.1 Refresh
    c.add(1000);
    expect((await firstValueFrom(handler.register(reg, ctx))).initialRegistrationTime).toEqual(first);
    // 3.2 Refresh with the field cleared, or with another value
    c.add(1000);
    expect((await firstValueFrom(handler.register({ ...reg, initialRegistrationTime: undefined }, ctx))).initialRegistrationTime).toEqual(first);
    expect((await firstValueFrom(handler.register({ ...reg, initialRegistrationTime: msToTimestamp(5) }, ctx))).initialRegistrationTime).toEqual(first);

    // 4. Unregister
    await firstValueFrom(handler.unregister(reg, ctx));
    expect(element.names.size).toBe(0);

    // 5. Register again: a new time
    c.add(3000);
    const again = await firstValueFrom(handler.register(testNse(), ctx));
    expect(again.initialRegistrationTime).toEqual(msToTimestamp(c.now()));
    expect(again.initialRegistrationTime).not.toEqual(first);
  });

  it('a first Register that carries a time keeps that time', async () => {
    const c = clock();
    const handler = registryChain([setRegistrationTime({ scheduler: c.scheduler })]);
    const given = msToTimestamp(42_000);
    expect((await firstValueFrom(handler.register(testNse({ initialRegistrationTime: given }), ctx))).initialRegistrationTime).toEqual(given);
    c.add(10);
    expect((await firstValueFrom(handler.register(testNse(), ctx))).initialRegistrationTime).toEqual(given);
  });

  it('keeps one time per name', async () => {
    const c = clock();
    const element = setRegistrationTime({ scheduler: c.scheduler });
    const handler = registryChain([element]);
    const a = await firstValueFrom(handler.register(testNse({ name: 'a' }), ctx));
    c.add(500);
    const b = await firstValueFrom(handler.register(testNse({ name: 'b' }), ctx));
    expect(b.initialRegistrationTime).toEqual(msToTimestamp(c.now()));
    expect(a.initialRegistrationTime).not.toEqual(b.initialRegistrationTime);
    expect(element.names.size).toBe(2);
  });

  it('does not change the caller’s object, nor share its remembered time with the answer', async () => {
    const c = clock();
    const element = setRegistrationTime({ scheduler: c.scheduler });
    const input = testNse();
    const answer = await firstValueFrom(registryChain([element]).register(input, ctx));
    expect(input.initialRegistrationTime).toBeUndefined();
    (answer.initialRegistrationTime as { seconds: number }).seconds = 1;
    expect(element.names.get('nse')).toEqual(msToTimestamp(c.now()));
  });

  it('forgets a first Register that failed or was cancelled, but not a known name whose refresh failed', async () => {
    const c = clock();
    const element = setRegistrationTime({ scheduler: c.scheduler });
    let mode: 'ok' | 'fail' | 'hang' = 'fail';
    const next: NSEHandler = {
      ...registryTail(),
      register: (nse) => (mode === 'ok' ? of(nse) : mode === 'fail' ? throwError(() => internal('x')) : NEVER),
    };
    const handler = registryChain([element], next);
    await expect(firstValueFrom(handler.register(testNse(), ctx))).rejects.toThrow();
    expect(element.names.size).toBe(0);
    mode = 'hang';
    handler.register(testNse(), ctx).subscribe().unsubscribe();
    expect(element.names.size).toBe(0);

    mode = 'ok';
    const first = (await firstValueFrom(handler.register(testNse(), ctx))).initialRegistrationTime;
    c.add(100);
    mode = 'fail';
    await expect(firstValueFrom(handler.register(testNse(), ctx))).rejects.toThrow();
    mode = 'ok';
    expect((await firstValueFrom(handler.register(testNse(), ctx))).initialRegistrationTime).toEqual(first);
  });

  it('reads the injected scheduler (virtual time)', () => {
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ flush }) => {
      const element = setRegistrationTime({ scheduler: ts });
      const handler = registryChain([element]);
      const seen: unknown[] = [];
      ts.schedule(() => handler.register(testNse(), ctx).subscribe((r) => seen.push(r.initialRegistrationTime)), 2500);
      flush();
      expect(seen).toEqual([msToTimestamp(2500)]);
    });
  });
});

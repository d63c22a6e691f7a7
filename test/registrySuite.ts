import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { expect, it } from 'vitest';
import { Context } from '../operators/core/context.js';
import type { NSEHandler, NSHandler } from '../operators/core/registry.js';
import { NetworkService, NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceQuery, type NetworkServiceEndpointResponse } from '../proto/gen/registry.js';

/** A registry under test: its two chains, and what ends it. */
export interface RegistryUnderTest {
  readonly ns: NSHandler;
  readonly nse: NSEHandler;
  dispose(): void | Promise<void>;
}

const ctx = () => Context.background.withDeadline(Date.now() + 10_000);
const nse = (name: string, fields: Partial<NetworkServiceEndpoint> = {}) => NetworkServiceEndpoint.fromPartial({ name, networkServiceNames: ['svc'], url: `tcp://127.0.0.1:${5000 + name.length}`, ...fields });
const names = (rs: readonly NetworkServiceEndpointResponse[]) => rs.map((r) => `${r.deleted ? '-' : ''}${r.networkServiceEndpoint?.name ?? ''}`);

/**
 * What every registry backend does the same (registry-memory, registry-k8s): Register, Find
 * (one-shot and watching, with matching), Unregister, refresh, expiry. `make(lifetimeMs)` starts
 * a fresh registry whose NSEs expire after `lifetimeMs` without a refresh; `prefix` keeps the
 * names of one backend's tests apart when they share state.
 */
export function registrySuite(make: (lifetimeMs: number) => Promise<RegistryUnderTest>, prefix: string): void {
  const run = (title: string, body: (r: RegistryUnderTest, n: (s: string) => string) => Promise<void>, lifetimeMs = 60_000) =>
    it(title, async () => {
      const r = await make(lifetimeMs);
      try {
        await body(r, (s) => `${prefix}-${s}`);
      } finally {
        await r.dispose();
      }
    });
  const find = (r: RegistryUnderTest, query: Partial<NetworkServiceEndpoint>) => lastValueFrom(r.nse.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: query }), ctx()).pipe(toArray()));

  run('a registered NSE is found at once by name, service and labels, and no more after Unregister', async (r, n) => {
    const stored = await firstValueFrom(r.nse.register(nse(n('a'), { networkServiceLabels: { svc: { labels: { app: 'x' } } } }), ctx()));
    expect(stored.expirationTime).toBeDefined();
    await firstValueFrom(r.nse.register(nse(n('b'), { networkServiceNames: ['other'] }), ctx()));
    expect(names(await find(r, { name: n('a') }))).toEqual([n('a')]);
    expect(names(await find(r, { networkServiceNames: ['svc'], networkServiceLabels: { svc: { labels: { app: 'x' } } } }))).toEqual([n('a')]);
    expect(names(await find(r, { networkServiceNames: ['svc'], networkServiceLabels: { svc: { labels: { app: 'y' } } } }))).toEqual([]);
    const [found] = await find(r, { name: n('a') });
    expect(found?.networkServiceEndpoint).toMatchObject({ url: stored.url, networkServiceNames: ['svc'], networkServiceLabels: { svc: { labels: { app: 'x' } } } });
    await lastValueFrom(r.nse.unregister(stored, ctx()), { defaultValue: undefined });
    expect(names(await find(r, { name: n('a') }))).toEqual([]);
    expect(names(await find(r, { name: n('b') }))).toEqual([n('b')]);
  });

  run('a watching Find sends the current matches, then updates and deletions of matching NSEs only', async (r, n) => {
    await firstValueFrom(r.nse.register(nse(n('w1')), ctx()));
    const seen: NetworkServiceEndpointResponse[] = [];
    const sub = r.nse.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { networkServiceNames: ['svc'] }, watch: true }), Context.background).subscribe((x) => seen.push(x));
    try {
      await expect.poll(() => names(seen)).toEqual([n('w1')]);
      const w2 = await firstValueFrom(r.nse.register(nse(n('w2')), ctx()));
      await firstValueFrom(r.nse.register(nse(n('elsewhere'), { networkServiceNames: ['other'] }), ctx()));
      await firstValueFrom(r.nse.register(nse(n('w1'), { url: 'tcp://127.0.0.1:7777' }), ctx()));
      await lastValueFrom(r.nse.unregister(w2, ctx()), { defaultValue: undefined });
      await expect.poll(() => names(seen)).toEqual([n('w1'), n('w2'), n('w1'), `-${n('w2')}`]);
      expect(seen[2]?.networkServiceEndpoint?.url).toBe('tcp://127.0.0.1:7777');
    } finally {
      sub.unsubscribe();
    }
  });

  run('network services: Register (payload defaults to IP), Find by name, Unregister', async (r, n) => {
    await firstValueFrom(r.ns.register(NetworkService.fromPartial({ name: n('ns'), matches: [{ sourceSelector: { app: 'a' }, routes: [{ destinationSelector: { app: 'b' }, weight: 3 }], fallthrough: true }] }), ctx()));
    const found = await lastValueFrom(r.ns.find(NetworkServiceQuery.fromPartial({ networkService: { name: n('ns') } }), ctx()).pipe(toArray()));
    // pathIds: the registry path the chain records (upstream stores it too).
    expect(found.map((x) => ({ ...x.networkService, pathIds: [] }))).toEqual([NetworkService.fromPartial({ name: n('ns'), payload: 'IP', matches: [{ sourceSelector: { app: 'a' }, routes: [{ destinationSelector: { app: 'b' }, weight: 3 }], fallthrough: true }] })]);
    await lastValueFrom(r.ns.unregister(NetworkService.fromPartial({ name: n('ns') }), ctx()), { defaultValue: undefined });
    expect(await lastValueFrom(r.ns.find(NetworkServiceQuery.fromPartial({ networkService: { name: n('ns') } }), ctx()).pipe(toArray()))).toEqual([]);
  });

  run(
    'an NSE not refreshed expires: Find no longer answers with it and a watcher hears it deleted',
    async (r, n) => {
      const seen: NetworkServiceEndpointResponse[] = [];
      const sub = r.nse.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { name: n('short') }, watch: true }), Context.background).subscribe((x) => seen.push(x));
      try {
        await firstValueFrom(r.nse.register(nse(n('short')), ctx()));
        await expect.poll(() => names(seen), { timeout: 10_000 }).toEqual([n('short'), `-${n('short')}`]);
        expect(names(await find(r, { name: n('short') }))).toEqual([]);
      } finally {
        sub.unsubscribe();
      }
    },
    1500,
  );
}

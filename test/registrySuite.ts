import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defer, EMPTY, firstValueFrom, from, lastValueFrom, of, toArray } from 'rxjs';
import { expect, it } from 'vitest';
import { Context } from '../operators/core/context.js';
import type { NSEHandler, NSHandler } from '../operators/core/registry.js';
import type { NsmUrl } from '../operators/tools/nsmUrl.js';
import { ChannelPool } from '../streams/grpc/channelPool.js';
import { serveRegistries } from '../streams/grpc/registry.js';
import { GrpcServer } from '../streams/grpc/server.js';
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

/** Where a registry under test sends `name@domain` (NSM_PROXY_REGISTRY_URL), over `pool`. */
export interface ProxyRegistry {
  readonly proxyRegistryUrl: NsmUrl;
  readonly pool: ChannelPool;
}

/**
 * A stand-in for the nsmgr-proxy's registries over real gRPC on a unix socket: it keeps what it
 * is sent (a registration answered as sent, Finds answered from it) so a test sees what arrived.
 */
async function fakeProxyRegistry(): Promise<ProxyRegistry & { readonly received: string[]; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'nsm-rx-proxy-'));
  const received: string[] = [];
  const kept = new Map<string, NetworkServiceEndpoint>();
  const nse: NSEHandler = {
    register: (item) => defer(() => (received.push(`register ${item.name}`), kept.set(item.name, item), of(item))),
    find: (q) => defer(() => (received.push(`find ${q.networkServiceEndpoint?.name ?? ''}`), from([...kept.values()].filter((e) => e.name === q.networkServiceEndpoint?.name).map((e) => ({ networkServiceEndpoint: e, deleted: false }))))),
    unregister: (item) => defer(() => (received.push(`unregister ${item.name}`), kept.delete(item.name), of(undefined))),
  };
  const ns: NSHandler = { register: (item) => (received.push(`register ns ${item.name}`), of(item)), find: () => EMPTY, unregister: () => of(undefined) };
  const server = serveRegistries(new GrpcServer(), ns, nse);
  const [url] = await server.listen([`unix://${join(dir, 'proxy.sock')}`]);
  const pool = new ChannelPool();
  return {
    proxyRegistryUrl: url as NsmUrl,
    pool,
    received,
    stop: async () => {
      pool.closeAll();
      await server.stop(100);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * What every registry backend does the same (registry-memory, registry-k8s): Register, Find
 * (one-shot and watching, with matching), Unregister, refresh, expiry, and `name@domain` sent to
 * its proxy registry. `make(lifetimeMs, proxy)` starts a fresh registry whose NSEs expire after
 * `lifetimeMs` without a refresh; `prefix` keeps the names of one backend's tests apart when
 * they share state.
 */
export function registrySuite(make: (lifetimeMs: number, proxy?: ProxyRegistry) => Promise<RegistryUnderTest>, prefix: string): void {
  it('name@domain goes to the proxy registry (NSM_PROXY_REGISTRY_URL) and never into this one', async () => {
    const proxy = await fakeProxyRegistry();
    const r = await make(60_000, proxy);
    try {
      const floating = nse(`${prefix}-f@floating.domain`);
      await firstValueFrom(r.nse.register(floating, ctx()));
      await firstValueFrom(r.nse.register(nse(`${prefix}-local`, { networkServiceNames: ['svc@cluster2'] }), ctx()));
      expect(names(await lastValueFrom(r.nse.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { name: floating.name } }), ctx()).pipe(toArray())))).toEqual([floating.name]);
      await lastValueFrom(r.nse.unregister(floating, ctx()), { defaultValue: undefined });
      await firstValueFrom(r.ns.register(NetworkService.fromPartial({ name: 'svc@cluster2' }), ctx()));
      expect(proxy.received).toEqual([`register ${floating.name}`, `register ${prefix}-local`, `find ${floating.name}`, `unregister ${floating.name}`, 'register ns svc@cluster2']);
      expect(names(await lastValueFrom(r.nse.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { name: `${prefix}-local` } }), ctx()).pipe(toArray())))).toEqual([]);
    } finally {
      await r.dispose();
      await proxy.stop();
    }
  });

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

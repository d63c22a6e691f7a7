import { status } from '../../operators/core/status.js';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import { toArray } from 'rxjs/operators';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  NetworkService,
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceQuery,
  type NetworkServiceEndpointResponse,
} from '../../proto/gen/registry.js';
import { Context } from '../../operators/core/context.js';
import { registryChain, type NSEHandler } from '../../operators/core/registry.js';
import { nseRegistryClient, nsRegistryClient } from '../../operators/registry/grpcClient.js';
import { msToTimestamp } from '../../operators/core/path.js';
import { liveFind } from '../../streams/liveFind.js';
import { Sandbox, type SandboxNode, type ServedRegistry } from './sandbox.js';
import { leakedResources, resourceCounts, type ResourceCounts } from './leaks.js';

const ctx = () => Context.background.withDeadline(Date.now() + 5000);
const nse = (name: string, extra: Partial<NetworkServiceEndpoint> = {}) =>
  NetworkServiceEndpoint.fromPartial({ name, networkServiceNames: ['icmp-responder'], url: `tcp://127.0.0.1:${5000 + name.length}`, ...extra });
const query = (q: Partial<NetworkServiceEndpoint> = {}, watch = false) => NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: q, watch });
const names = (responses: NetworkServiceEndpointResponse[]) => responses.map((r) => r.networkServiceEndpoint?.name).sort();

describe('registry-memory over gRPC', () => {
  let sandbox: Sandbox;
  let registry: SandboxNode<ServedRegistry>;
  let before: ResourceCounts;
  let checkLeaks: boolean;

  beforeEach(async () => {
    before = resourceCounts();
    checkLeaks = true;
    sandbox = await Sandbox.create();
  });

  afterEach(async () => {
    if (checkLeaks) expect(sandbox.leftovers()).toEqual([]);
    await sandbox.cleanup();
    expect(await leakedResources(before)).toEqual([]);
  });

  /** A plain remote registry (no refresh, no heal): what a raw upstream client does. */
  const raw = (node: SandboxNode<ServedRegistry>) => ({
    nse: registryChain([nseRegistryClient({ pool: sandbox.pool, url: node.url })]) as NSEHandler,
    ns: registryChain([nsRegistryClient({ pool: sandbox.pool, url: node.url })]),
  });
  const find = (h: NSEHandler, q = query()) => lastValueFrom(h.find(q, ctx()).pipe(toArray()));

  it('Register, Find and Unregister NSEs and NSs; an empty payload becomes IP (Test_RegistryMemory_ShouldSetDefaultPayload)', async () => {
    registry = await sandbox.registry();
    const r = raw(registry);
    const stored = await firstValueFrom(r.nse.register(nse('nse-1'), ctx()));
    expect(stored.expirationTime).toBeDefined();
    expect(stored.initialRegistrationTime).toBeDefined();
    expect(names(await find(r.nse))).toEqual(['nse-1']);
    const ns = await firstValueFrom(r.ns.register(NetworkService.fromPartial({ name: 'icmp-responder' }), ctx()));
    expect(ns.payload).toBe('IP');
    const nss = await lastValueFrom(r.ns.find(NetworkServiceQuery.fromPartial({ networkService: { name: 'icmp-responder' } }), ctx()).pipe(toArray()));
    expect(nss.map((x) => x.networkService?.payload)).toEqual(['IP']);
    await lastValueFrom(r.nse.unregister(stored, ctx()), { defaultValue: undefined });
    expect(await find(r.nse)).toEqual([]);
    await lastValueFrom(r.ns.unregister(ns, ctx()), { defaultValue: undefined });
  });

  it('matches queries by name, service names, labels per service and url substring', async () => {
    registry = await sandbox.registry();
    const r = raw(registry);
    const labelled = (name: string, color: string, services = ['a']) =>
      nse(name, { networkServiceNames: services, networkServiceLabels: { a: { labels: { color } } } });
    for (const x of [labelled('red-1', 'red'), labelled('red-2', 'red', ['a', 'b']), labelled('blue', 'blue')]) await firstValueFrom(r.nse.register(x, ctx()));
    expect(names(await find(r.nse, query({ networkServiceLabels: { a: { labels: { color: 'red' } } } })))).toEqual(['red-1', 'red-2']);
    expect(names(await find(r.nse, query({ networkServiceNames: ['a', 'b'] })))).toEqual(['red-2']);
    expect(names(await find(r.nse, query({ name: 'blue' })))).toEqual(['blue']);
    expect(names(await find(r.nse, query({ url: '127.0.0.1:5004' })))).toEqual(['blue']);
    for (const name of ['red-1', 'red-2', 'blue']) await lastValueFrom(r.nse.unregister(nse(name), ctx()), { defaultValue: undefined });
  });

  it('a watcher sees a registration and then its expiry (deleted=true)', async () => {
    registry = await sandbox.registry('registry', { expirePeriod: 300 });
    const r = raw(registry);
    const seen: NetworkServiceEndpointResponse[] = [];
    const sub = r.nse.find(query({}, true), Context.background).subscribe((e) => seen.push(e));
    await new Promise((res) => setTimeout(res, 50));
    await firstValueFrom(r.nse.register(nse('short-lived'), Context.background.withDeadline(Date.now() + 100)));
    await expect.poll(() => seen.map((e) => `${e.networkServiceEndpoint?.name}:${e.deleted}`), { timeout: 2000 }).toEqual(['short-lived:false', 'short-lived:true']);
    sub.unsubscribe();
  });

  it('an NSE whose owner keeps refreshing stays; when the owner dies it is gone after its period', async () => {
    registry = await sandbox.registry('registry', { expirePeriod: 400 });
    const owner = sandbox.registryClient(registry.url);
    await firstValueFrom(owner.nse.register(nse('kept'), Context.background.withDeadline(Date.now() + 100)));
    await new Promise((res) => setTimeout(res, 1200)); // three periods
    expect(names(await find(raw(registry).nse))).toEqual(['kept']);
    owner.dispose(); // the owner's process dies: no more refreshes
    checkLeaks = false;
    await expect.poll(async () => names(await find(raw(registry).nse)), { timeout: 2000, interval: 50 }).toEqual([]);
  });

  it('after a registry restart the owners register again and live watchers recover (TestNSMGR_HealRegistry, registry part)', async () => {
    registry = await sandbox.registry();
    const owner = sandbox.registryClient(registry.url);
    const watcher = sandbox.registryClient(registry.url);
    const views: string[] = [];
    const sub = liveFind(
      watcher.nse.find,
      (watch) => query({}, watch),
      (r: NetworkServiceEndpointResponse) => (r.networkServiceEndpoint ? { item: r.networkServiceEndpoint, deleted: r.deleted } : undefined),
      Context.background,
    ).subscribe((view) => views.push([...view.keys()].join(',')));
    const registered = await firstValueFrom(owner.nse.register(nse('survivor'), ctx()));
    await expect.poll(() => views.at(-1)).toBe('survivor');

    await registry.restart(); // state lost, same URL
    expect(registry.served?.registry.stores.nse.size).toBe(0);
    await expect.poll(() => registry.served?.registry.stores.nse.get('survivor')?.name, { timeout: 3000, interval: 50 }).toBe('survivor');
    await expect.poll(() => views.at(-1), { timeout: 3000 }).toBe('survivor');

    sub.unsubscribe();
    await lastValueFrom(owner.nse.unregister(registered, ctx()), { defaultValue: undefined });
    expect(registry.served?.registry.stores.nse.size).toBe(0);
  });

  it('refuses bad input with INVALID_ARGUMENT naming the field, and keeps serving', async () => {
    registry = await sandbox.registry();
    const r = raw(registry);
    const rejects = async (item: NetworkServiceEndpoint, message: RegExp) => {
      const err = await firstValueFrom(r.nse.register(item, ctx())).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: status.INVALID_ARGUMENT });
      expect((err as Error).message).toMatch(message);
    };
    await rejects(nse(''), /name/);
    await rejects(nse('x'.repeat(1025)), /name/);
    await rejects(nse('bad-url', { url: 'http://x' }), /url/);
    await rejects(nse('past', { expirationTime: msToTimestamp(Date.now() - 60_000) }), /expiration/);
    const many = Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`k${i}`, 'v']));
    await rejects(nse('labels', { networkServiceLabels: { 'icmp-responder': { labels: many } } }), /labels/);
    // Upstream's memory registry takes any name (issue 13 item 4).
    await firstValueFrom(r.nse.register(nse('Not_A_K8s_Name', { url: 'tcp://127.0.0.1:1' }), ctx()));
    await lastValueFrom(r.nse.unregister(nse('Not_A_K8s_Name'), ctx()), { defaultValue: undefined });
    // Unregister of an unknown name succeeds; a second Register of a name updates it.
    await lastValueFrom(r.nse.unregister(nse('never-registered'), ctx()), { defaultValue: undefined });
    await firstValueFrom(r.nse.register(nse('twice', { url: 'tcp://127.0.0.1:1' }), ctx()));
    await firstValueFrom(r.nse.register(nse('twice', { url: 'tcp://127.0.0.1:2' }), ctx()));
    expect((await find(r.nse, query({ name: 'twice' }))).map((x) => x.networkServiceEndpoint?.url)).toEqual(['tcp://127.0.0.1:2']);
    await lastValueFrom(r.nse.unregister(nse('twice'), ctx()), { defaultValue: undefined });
  });

  it('without a proxy registry (NSM_PROXY_REGISTRY_URL) interdomain names fail with FAILED_PRECONDITION naming the variable; two @ are INVALID_ARGUMENT', async () => {
    registry = await sandbox.registry();
    const r = raw(registry);
    await expect(firstValueFrom(r.nse.register(nse('nse@cluster2'), ctx()))).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, message: expect.stringContaining('NSM_PROXY_REGISTRY_URL is not set') });
    await expect(firstValueFrom(r.ns.register(NetworkService.fromPartial({ name: 'ns@cluster2' }), ctx()))).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
    });
    await expect(firstValueFrom(r.ns.register(NetworkService.fromPartial({ name: 'ns@cluster2@cluster3' }), ctx()))).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      message: expect.stringContaining('has 2 "@"'),
    });
  });
});

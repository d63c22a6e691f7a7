import { status } from '../core/status.js';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { NetworkService, NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { NsmError } from '../core/errors.js';
import { msToTimestamp } from '../core/path.js';
import { registryChain, registryTail, type NSEHandler, type NSHandler } from '../core/registry.js';
import { newNSEStore, nseMemory } from './memory.js';
import {
  nameProblem,
  networkServiceEndpointProblem,
  networkServiceProblem,
  registryLimits,
  validateNetworkService,
  validateNetworkServiceEndpoint,
} from './validate.js';

const ctx = Context.background;
const NOW = 1_000_000;
const scheduler = { now: () => NOW, schedule: () => undefined as never };
const nse = (extra: Partial<NetworkServiceEndpoint> = {}) =>
  NetworkServiceEndpoint.fromPartial({ name: 'nse-1', networkServiceNames: ['ns-1'], url: 'tcp://127.0.0.1:5002', ...extra });
const ns = (extra: Partial<NetworkService> = {}) => NetworkService.fromPartial({ name: 'ns-1', ...extra });
const labelsOf = (n: number, value = 'v') => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, value]));

/** Runs an Observable, returning the NsmError it failed with (or undefined). */
async function failure(o: Parameters<typeof firstValueFrom>[0]): Promise<NsmError | undefined> {
  try {
    await firstValueFrom(o);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(NsmError);
    return err as NsmError;
  }
}

describe('nameProblem (any name upstream’s memory registry accepts, bounded in length)', () => {
  it.each([
    'ns-1',
    'a',
    'icmp-responder',
    'my.service.example',
    'Service1',
    'NSE_1',
    'ns_1',
    'nse-kernel-6D4B8C_x',
    'ns 1',
    'ns@My-Cluster.Example.COM',
    'ns@bad_domain',
    'a'.repeat(registryLimits.maxNameLength),
  ])('accepts %j', (name) => {
    expect(nameProblem(name)).toBeUndefined();
  });

  it.each<[string, RegExp]>([
    ['', /must not be empty/],
    ['a'.repeat(registryLimits.maxNameLength + 1), /longer than 1024/],
    ['@cluster', /name@domain with both parts/],
    ['ns@cluster2@cluster3', /has 2 "@"/],
  ])('rejects %j', (name, why) => {
    expect(nameProblem(name)).toMatch(why);
  });
});

describe('networkServiceEndpointProblem', () => {
  it('accepts a typical registration, without url or expiration too', () => {
    expect(networkServiceEndpointProblem(nse(), NOW)).toBeUndefined();
    expect(networkServiceEndpointProblem(nse({ url: '' }), NOW)).toBeUndefined();
    expect(networkServiceEndpointProblem(nse({ url: 'unix:///var/lib/nsm/nse.sock', expirationTime: msToTimestamp(NOW + 1) }), NOW)).toBeUndefined();
    expect(
      networkServiceEndpointProblem(
        nse({ name: 'nse@floating.domain', networkServiceNames: ['ns-1@cluster2'], networkServiceLabels: { 'ns-1@cluster2': { labels: { app: '{{.app}}' } } } }),
        NOW,
      ),
    ).toBeUndefined();
  });

  it.each<[string, Partial<NetworkServiceEndpoint>, RegExp]>([
    ['empty name', { name: '' }, /^network_service_endpoint\.name "" must not be empty/],
    ['long name', { name: 'n'.repeat(1025) }, /^network_service_endpoint\.name "n+…" is longer than 1024/],
    ['empty service name', { networkServiceNames: [''] }, /network_service_names\[0\] "" must not be empty/],
    ['too many services', { networkServiceNames: Array.from({ length: 1025 }, (_, i) => `ns-${i}`) }, /network_service_names has 1025 entries; at most 1024/],
    [
      'too many label sets',
      { networkServiceLabels: Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`ns-${i}`, { labels: {} }])) },
      /network_service_labels has 1025 entries/,
    ],
    ['empty labels key', { networkServiceLabels: { '': { labels: {} } } }, /network_service_labels key "" must not be empty/],
    ['too many labels', { networkServiceLabels: { 'ns-1': { labels: labelsOf(1025) } } }, /network_service_labels\["ns-1"\]\.labels has 1025 entries/],
    ['long label key', { networkServiceLabels: { 'ns-1': { labels: { ['k'.repeat(1025)]: 'x' } } } }, /is longer than 1024 characters/],
    ['long label value', { networkServiceLabels: { 'ns-1': { labels: { k: 'v'.repeat(4097) } } } }, /labels\["k"\] is longer than 4096/],
    ['unparsable url', { url: 'http://x' }, /^network_service_endpoint\.url: .*unsupported scheme "http"/],
    ['url without port', { url: 'tcp://0.0.0.0' }, /^network_service_endpoint\.url: .*needs a port/],
    ['relative unix path', { url: 'unix://relative' }, /^network_service_endpoint\.url:/],
    ['expiration now', { expirationTime: msToTimestamp(NOW) }, /^network_service_endpoint\.expiration_time .* is not in the future/],
    ['expiration in the past', { expirationTime: msToTimestamp(NOW - 60_000) }, /expiration_time \(940 s\) is not in the future/],
  ])('rejects %s', (_what, extra, why) => {
    expect(networkServiceEndpointProblem(nse(extra), NOW)).toMatch(why);
  });

  it('accepts what upstream components register: upper-case names, "_", many services and labels, any label key', () => {
    const upstreamStyle = nse({
      name: 'NSE_Kernel-1',
      networkServiceNames: ['My_Service', ...Array.from({ length: 99 }, (_, i) => `ns_${i}`)],
      networkServiceLabels: { My_Service: { labels: { ...labelsOf(200), '': 'empty key', 'app.kubernetes.io/Name': 'X' } } },
    });
    expect(networkServiceEndpointProblem(upstreamStyle, NOW)).toBeUndefined();
    expect(networkServiceProblem(ns({ name: 'My_Service', matches: Array.from({ length: 100 }, () => ({ sourceSelector: labelsOf(100), routes: [], fallthrough: false, metadata: undefined })) }))).toBeUndefined();
  });

  it('accepts exactly the limits', () => {
    const atLimit = nse({
      networkServiceNames: Array.from({ length: registryLimits.maxNetworkServices }, (_, i) => `ns-${i}`),
      networkServiceLabels: {
        'ns-0': { labels: { ...labelsOf(registryLimits.maxLabels - 1), ['k'.repeat(registryLimits.maxLabelKeyLength)]: 'v'.repeat(registryLimits.maxLabelValueLength) } },
      },
    });
    expect(networkServiceEndpointProblem(atLimit, NOW)).toBeUndefined();
  });
});

describe('networkServiceProblem', () => {
  const match = (extra: Record<string, unknown> = {}) => ({ sourceSelector: {}, routes: [], fallthrough: false, metadata: undefined, ...extra });

  it('accepts a service with matches, and one with any payload', () => {
    const m = match({ sourceSelector: { app: 'x' }, routes: [{ destinationSelector: { app: '{{.app}}' }, weight: 0 }], metadata: { labels: { p2mp: 'true' } } });
    expect(networkServiceProblem(ns({ payload: 'ETHERNET', matches: [m] }))).toBeUndefined();
    expect(networkServiceProblem(ns({ payload: 'some payload' }))).toBeUndefined();
    expect(networkServiceProblem(ns({ name: 'ns-1@domain2' }))).toBeUndefined();
  });

  it.each<[string, Partial<NetworkService>, RegExp]>([
    ['empty name', { name: '' }, /^network_service\.name "" must not be empty/],
    ['long name', { name: 'n'.repeat(1025) }, /^network_service\.name "n+…" is longer than 1024/],
    ['too many matches', { matches: Array.from({ length: 1025 }, () => match()) }, /^network_service\.matches has 1025 entries; at most 1024/],
    ['big source selector', { matches: [match(), match({ sourceSelector: labelsOf(1025) })] }, /^network_service\.matches\[1\]\.source_selector has 1025 entries/],
    ['too many routes', { matches: [match({ routes: Array.from({ length: 1025 }, () => ({ destinationSelector: {}, weight: 0 })) })] }, /matches\[0\]\.routes has 1025 entries/],
    [
      'long destination value',
      { matches: [match({ routes: [{ destinationSelector: {}, weight: 0 }, { destinationSelector: { k: 'v'.repeat(4097) }, weight: 0 }] })] },
      /matches\[0\]\.routes\[1\]\.destination_selector\["k"\] is longer than 4096/,
    ],
    ['big metadata', { matches: [match({ metadata: { labels: labelsOf(1025) } })] }, /matches\[0\]\.metadata\.labels has 1025 entries/],
  ])('rejects %s', (_what, extra, why) => {
    expect(networkServiceProblem(ns(extra as Partial<NetworkService>))).toMatch(why);
  });
});

describe('validateNetworkServiceEndpoint element', () => {
  const setup = () => {
    const calls: string[] = [];
    const tail: NSEHandler = registryTail();
    const next: NSEHandler = {
      register: (item, c) => (calls.push('register'), tail.register(item, c)),
      find: (q, c) => (calls.push('find'), tail.find(q, c)),
      unregister: (item, c) => (calls.push('unregister'), tail.unregister(item, c)),
    };
    return { calls, handler: registryChain([validateNetworkServiceEndpoint({ scheduler })], next) };
  };

  it('answers INVALID_ARGUMENT for a bad Register and does not call the rest of the chain', async () => {
    const { calls, handler } = setup();
    const err = await failure(handler.register(nse({ name: '' }), ctx));
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
    expect(err?.message).toMatch(/network_service_endpoint\.name ""/);
    expect(calls).toEqual([]);
  });

  it('rejects an expiration_time that is past at the scheduler’s now', async () => {
    const { handler } = setup();
    expect((await failure(handler.register(nse({ expirationTime: msToTimestamp(NOW - 1) }), ctx)))?.code).toBe(status.INVALID_ARGUMENT);
    expect(await failure(handler.register(nse({ expirationTime: msToTimestamp(NOW + 1) }), ctx))).toBeUndefined();
  });

  it('passes a good Register through', async () => {
    const { calls, handler } = setup();
    expect(await firstValueFrom(handler.register(nse(), ctx))).toEqual(nse());
    expect(calls).toEqual(['register']);
  });

  it('rejects an Unregister without a name; any other name passes (unknown names are the store’s business)', async () => {
    const { calls, handler } = setup();
    const err = await failure(handler.unregister(nse({ name: '' }), ctx));
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
    expect(err?.message).toBe('network_service_endpoint.name must not be empty');
    expect(await failure(handler.unregister(nse({ name: 'whatever', url: 'not a url' }), ctx))).toBeUndefined();
    expect(calls).toEqual(['unregister']);
  });

  it('does not validate Find queries: an empty query NSE (or none) means "all"', async () => {
    const store = newNSEStore();
    const handler = registryChain([validateNetworkServiceEndpoint({ scheduler }), nseMemory(store, { scheduler })]);
    await firstValueFrom(handler.register(nse(), ctx));
    const find = (q: NetworkServiceEndpoint | undefined) => lastValueFrom(handler.find({ networkServiceEndpoint: q, watch: false }, ctx).pipe(toArray()));
    expect(await find(NetworkServiceEndpoint.fromPartial({}))).toHaveLength(1);
    expect(await find(undefined)).toHaveLength(1);
    expect(await find(NetworkServiceEndpoint.fromPartial({ url: '127.0.0' }))).toHaveLength(1);
  });

  it('checks at subscription time, not at call time', async () => {
    let now = 0;
    const handler = registryChain([validateNetworkServiceEndpoint({ scheduler: { now: () => now, schedule: () => undefined as never } })]);
    const call = handler.register(nse({ expirationTime: msToTimestamp(100) }), ctx);
    now = 200;
    expect((await failure(call))?.code).toBe(status.INVALID_ARGUMENT);
  });
});

describe('validateNetworkService element', () => {
  const setup = () => {
    const calls: string[] = [];
    const tail: NSHandler = registryTail();
    const next: NSHandler = {
      register: (item, c) => (calls.push('register'), tail.register(item, c)),
      find: (q, c) => (calls.push('find'), tail.find(q, c)),
      unregister: (item, c) => (calls.push('unregister'), tail.unregister(item, c)),
    };
    return { calls, handler: registryChain([validateNetworkService()], next) };
  };

  it('answers INVALID_ARGUMENT for a bad Register, passes a good one', async () => {
    const { calls, handler } = setup();
    const err = await failure(handler.register(ns({ name: '' }), ctx));
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
    expect(err?.message).toMatch(/^network_service\.name/);
    expect(calls).toEqual([]);
    expect(await firstValueFrom(handler.register(ns(), ctx))).toEqual(ns());
    expect(calls).toEqual(['register']);
  });

  it('rejects an Unregister without a name, passes others', async () => {
    const { calls, handler } = setup();
    expect((await failure(handler.unregister(ns({ name: '' }), ctx)))?.message).toBe('network_service.name must not be empty');
    expect(await failure(handler.unregister(ns(), ctx))).toBeUndefined();
    expect(calls).toEqual(['unregister']);
  });

  it('passes Find through unvalidated', async () => {
    const { calls, handler } = setup();
    await lastValueFrom(handler.find({ networkService: undefined, watch: false }, ctx).pipe(toArray()));
    expect(calls).toEqual(['find']);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '../../operators/core/status.js';
import { Metadata } from '../../operators/core/callMetadata.js';
import { firstValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest, NetworkServiceService } from '../../proto/gen/networkservice.js';
import { NetworkService, NetworkServiceEndpoint, NetworkServiceEndpointRegistryService, NetworkServiceRegistryService } from '../../proto/gen/registry.js';
import { endpoint } from '../../operators/chains/endpoint.js';
import { memoryRegistry } from '../../operators/chains/registry.js';
import { Context } from '../../operators/core/context.js';
import { statusOf } from '../../operators/core/errors.js';
import { mechanisms } from '../../operators/networkservice/mechanisms.js';
import { defaultRegistryServerPolicies, defaultServerPolicies, resolvePolicies } from '../../operators/authorize/policies.js';
import { authorizeMonitor } from '../../operators/authorize/authorizeMonitor.js';
import { unixUrl, type NsmUrl } from '../../operators/tools/nsmUrl.js';
import { outgoingMetadataKey, outgoingTokenKey, unaryCall } from '../../streams/grpc/call.js';
import { ChannelPool, type PooledChannel } from '../../streams/grpc/channelPool.js';
import type { MethodDef } from '../../streams/grpc/method.js';
import { serveNetworkService } from '../../streams/grpc/networkService.js';
import { serveRegistries } from '../../streams/grpc/registry.js';
import { GrpcServer } from '../../streams/grpc/server.js';
import { createCa } from '../../streams/spiffe/ca.js';
import { caSource } from '../../streams/spiffe/rotation.js';
import { parseSpiffeId } from '../../streams/spiffe/spiffeId.js';
import { spiffeTokenGenerator } from '../../streams/spiffe/token.js';

/** A seeded PRNG (mulberry32): the same cases on every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(20261125);
const bytes = (max: number) => Buffer.from(Array.from({ length: Math.floor(random() * max) }, () => Math.floor(random() * 256)));
const text = (max: number) => Array.from({ length: Math.floor(random() * max) }, () => String.fromCharCode(32 + Math.floor(random() * 95))).join('');

/** The same method taking raw bytes as its request. */
const raw = <Req, Res>(m: MethodDef<Req, Res>): MethodDef<Buffer, Res> => ({ ...m, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b });

const dir = mkdtempSync(join(tmpdir(), 'nsm-fuzz-'));
const ca = createCa('nsm.local', new Date(), 3_600_000);
const cleanup: (() => unknown)[] = [];
const codes = new Map<string, number>();
let cases = 0;
let nse: NsmUrl;
let registry: NsmUrl;
let pool: ChannelPool;

/** Sends one case and answers its status code (0 for OK); counts it. */
async function code<Req>(url: NsmUrl, method: MethodDef<Req, unknown>, request: Req, ctx = Context.background.withDeadline(Date.now() + 5000)): Promise<number> {
  const channel: PooledChannel = pool.acquire(url);
  const c = await firstValueFrom(unaryCall(channel, method, request, ctx)).then(
    () => status.OK,
    (e: unknown) => statusOf(e),
  );
  channel.release();
  cases++;
  codes.set(status[c] ?? String(c), (codes.get(status[c] ?? String(c)) ?? 0) + 1);
  return c;
}

const crashes = (c: number) => c === status.INTERNAL || c === status.UNKNOWN;
const validRequest = (id: string) =>
  NetworkServiceRequest.fromPartial({
    connection: { id, networkService: 'ns', labels: { app: 'fuzz' }, path: { index: 0, pathSegments: [{ name: 'fuzzer', id }] } },
    mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } }],
  });
const validNse = NetworkServiceEndpoint.fromPartial({ name: 'nse-fuzz', networkServiceNames: ['ns'], networkServiceLabels: { ns: { labels: { a: 'b' } } }, url: 'tcp://127.0.0.1:5000' });

beforeAll(async () => {
  const identity = (name: string) => {
    const id = caSource(ca, `spiffe://nsm.local/${name}`);
    cleanup.push(id.stop);
    return id.source;
  };
  const nseSource = identity('nse');
  const hop = endpoint({ name: 'nse', token: spiffeTokenGenerator(nseSource, 600_000, Date.now), policies: resolvePolicies(defaultServerPolicies.split(',')), additional: [mechanisms({ KERNEL: [] })] });
  const nseServer = new GrpcServer({ source: nseSource });
  serveNetworkService(nseServer, hop.handler, hop.monitor, authorizeMonitor(hop.owners));
  [nse] = (await nseServer.listen([unixUrl(join(dir, 'nse.sock'))])) as [NsmUrl];
  const registrySource = identity('registry');
  const reg = memoryRegistry({ token: spiffeTokenGenerator(registrySource, 600_000, Date.now), policies: resolvePolicies(defaultRegistryServerPolicies.split(',')) });
  const regServer = new GrpcServer({ source: registrySource });
  serveRegistries(regServer, reg.ns, reg.nse);
  [registry] = (await regServer.listen([unixUrl(join(dir, 'registry.sock'))])) as [NsmUrl];
  const me = identity('fuzzer');
  pool = new ChannelPool({ source: me, token: spiffeTokenGenerator(me, 600_000, Date.now) });
  cleanup.push(() => nseServer.stop(100), () => regServer.stop(100), () => reg.dispose(), () => hop.state.metadata.dispose(), () => pool.closeAll());
});

afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
  console.log(`fuzz: ${cases} cases against the gRPC surface; answers ${[...codes].map(([k, v]) => `${k}=${v}`).join(' ')}`);
});

describe('fuzzing the gRPC surface (mTLS, default policies)', () => {
  const targets = (): [string, NsmUrl, MethodDef<Buffer, unknown>][] => [
    ['NetworkService.Request', nse, raw(NetworkServiceService.request)],
    ['NetworkService.Close', nse, raw(NetworkServiceService.close)],
    ['NSE Register', registry, raw(NetworkServiceEndpointRegistryService.register)],
    ['NSE Unregister', registry, raw(NetworkServiceEndpointRegistryService.unregister)],
    ['NS Register', registry, raw(NetworkServiceRegistryService.register)],
  ];

  it('random bytes never crash a server: INVALID_ARGUMENT or an answer, never INTERNAL/UNKNOWN', async () => {
    for (const [what, url, method] of targets()) {
      for (let i = 0; i < 150; i++) {
        const c = await code(url, method, bytes(300));
        expect(crashes(c), `${what}: ${status[c]}`).toBe(false);
      }
    }
  }, 60_000);

  it('valid messages cut at every byte: never INTERNAL/UNKNOWN', async () => {
    const messages: [NsmUrl, MethodDef<Buffer, unknown>, Buffer][] = [
      [nse, raw(NetworkServiceService.request), Buffer.from(NetworkServiceRequest.encode(validRequest('cut')).finish())],
      [nse, raw(NetworkServiceService.close), Buffer.from(Connection.encode(validRequest('cut').connection!).finish())],
      [registry, raw(NetworkServiceEndpointRegistryService.register), Buffer.from(NetworkServiceEndpoint.encode(validNse).finish())],
    ];
    for (const [url, method, whole] of messages) {
      for (let n = 0; n < whole.length; n++) {
        const c = await code(url, method, whole.subarray(0, n));
        expect(crashes(c), `cut at ${n}: ${status[c]}`).toBe(false);
      }
    }
  }, 60_000);

  it('a message over the 4 MiB limit: RESOURCE_EXHAUSTED', async () => {
    expect(await code(nse, raw(NetworkServiceService.request), Buffer.alloc(4 * 1024 * 1024 + 10, 0x41))).toBe(status.RESOURCE_EXHAUSTED);
  });

  // (gRPC metadata is printable ASCII: grpc-js refuses anything else before it is sent.)
  it('malformed JWTs as the caller token: PERMISSION_DENIED', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const junk = [
      '',
      'x',
      'a.b',
      'a.b.c.d',
      `${b64({ alg: 'none' })}.${b64({ sub: 'spiffe://nsm.local/fuzzer', aud: ['spiffe://nsm.local/nse'] })}.`,
      `${b64({ alg: 'ES256' })}.${b64([1, 2])}.AAAA`,
      `${b64({ alg: 'ES256' })}.${b64({ sub: 'spiffe://nsm.local/fuzzer', exp: 'soon' })}.AAAA`,
      `${b64({ alg: 'ES256' })}.${b64({ sub: 'spiffe://nsm.local/fuzzer', aud: ['spiffe://nsm.local/nse'], exp: 9e9 })}.${'A'.repeat(86)}`,
      'x'.repeat(20_000),
      ...Array.from({ length: 100 }, () => `${text(40)}.${text(80)}.${text(90)}`),
      ...Array.from({ length: 100 }, () => `${bytes(30).toString('base64url')}.${bytes(60).toString('base64url')}.${bytes(64).toString('base64url')}`),
    ];
    let i = 0;
    for (const token of junk) {
      const ctx = Context.background.withDeadline(Date.now() + 5000).with(outgoingTokenKey, () => ({ token, expires: Date.now() + 60_000 }));
      const c = await code(nse, NetworkServiceService.request, validRequest(`jwt-${i++}`), ctx);
      expect(c, `token ${JSON.stringify(token.slice(0, 40))}`).toBe(status.PERMISSION_DENIED);
    }
  }, 60_000);

  it('malformed URLs, names and SPIFFE IDs: refused with a status or taken, never a crash', async () => {
    const urls = ['http://x', 'unix://', 'unix:///', 'tcp://host:99999', 'tcp://:', '::::', 'inode://1', `tcp://${'a'.repeat(300)}:1`, ...Array.from({ length: 100 }, () => text(60))];
    for (const [i, url] of urls.entries()) {
      const c = await code(registry, NetworkServiceEndpointRegistryService.register, NetworkServiceEndpoint.fromPartial({ ...validNse, name: `url-${i}`, url }));
      expect(crashes(c), `url ${JSON.stringify(url)}: ${status[c]}`).toBe(false);
    }
    for (let i = 0; i < 100; i++) {
      const name = text(80);
      const c = await code(registry, NetworkServiceRegistryService.register, NetworkService.fromPartial({ name, payload: text(10) }));
      expect(crashes(c), `ns name ${JSON.stringify(name)}: ${status[c]}`).toBe(false);
    }
    for (let i = 0; i < 2000; i++) {
      const candidate = random() < 0.5 ? `spiffe://${text(20)}/${text(30)}` : text(60);
      try {
        expect(parseSpiffeId(candidate).href).toBe(candidate);
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
      }
      cases++;
    }
  }, 60_000);

  it('afterwards the servers still serve: a good Request and Close, a good Register', async () => {
    expect(await code(nse, NetworkServiceService.request, validRequest('after'))).toBe(status.OK);
    expect(await code(nse, NetworkServiceService.close, validRequest('after').connection!)).toBe(status.OK);
    // As registry clients call: with the registry path (a first hop's, empty), so the registrant is the caller.
    const withPath = new Metadata();
    withPath.set('path', '{"Index":0,"PathSegments":null}');
    const ctx = Context.background.withDeadline(Date.now() + 5000).with(outgoingMetadataKey, withPath);
    expect(await code(registry, NetworkServiceEndpointRegistryService.register, validNse, ctx)).toBe(status.OK);
  });
});

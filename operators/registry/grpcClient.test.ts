import { firstValueFrom, lastValueFrom, of } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { registryChain, type NSEHandler } from '../core/registry.js';
import { unixUrl } from '../tools/nsmUrl.js';
import { unsignedTokenGenerator } from '../tools/token.js';
import { ChannelPool } from '../../streams/grpc/channelPool.js';
import { serveRegistries } from '../../streams/grpc/registry.js';
import { incomingCallKey } from '../../streams/grpc/serve.js';
import { GrpcServer } from '../../streams/grpc/server.js';
import { nseRegistryClient } from './grpcClient.js';
import { registryPathKey, registryPathMetadataKey, type RegistryPath } from './grpcMetadata.js';
import { subjectOf } from './updatePath.js';
import { memoryRegistry } from '../chains/registry.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

describe('registry gRPC client', () => {
  it('sends upstream’s registry path (metadata "path", JSON, empty) with Register and Unregister, beside the caller’s token — an upstream registry refuses calls without it', async () => {
    const seen: { op: string; path: unknown; token: unknown }[] = [];
    const record = (op: string) => (ctx: Context) => {
      const md = ctx.get(incomingCallKey)?.metadata;
      seen.push({ op, path: md?.get(registryPathMetadataKey)[0], token: md?.get('nsm-client-token')[0] });
    };
    const nse: NSEHandler = registryChain([
      {
        register: (item, ctx) => (record('register')(ctx), of(item)),
        unregister: (_item, ctx) => (record('unregister')(ctx), of(undefined)),
      },
    ]);
    const server = new GrpcServer();
    serveRegistries(server, registryChain([]), nse);
    const [url] = await server.listen([unixUrl(`/tmp/nsm-regpath-${process.pid}.sock`)]);
    const pool = new ChannelPool({ token: unsignedTokenGenerator('nse', 60_000, Date.now) });
    cleanup.push(() => server.stop(100), () => pool.closeAll());
    const client = registryChain([nseRegistryClient({ pool, url: url! })]);
    const item = NetworkServiceEndpoint.fromPartial({ name: 'nse-1', networkServiceNames: ['ns'], url: 'tcp://127.0.0.1:1' });
    await firstValueFrom(client.register(item, Context.background));
    await lastValueFrom(client.unregister(item, Context.background), { defaultValue: undefined });
    expect(seen.map((s) => [s.op, s.path === undefined ? undefined : JSON.parse(s.path as string), typeof s.token])).toEqual([
      ['register', { Index: 0, PathSegments: [] }, 'string'],
      ['unregister', { Index: 0, PathSegments: [] }, 'string'],
    ]);
  });

  it('carries the context’s registry path and, once the Register succeeded, takes the path the server answered in its "path" header (upstream grpcmetadata client)', async () => {
    const registry = memoryRegistry({ token: unsignedTokenGenerator('spiffe://td/registry', 60_000, Date.now) });
    const server = new GrpcServer();
    serveRegistries(server, registry.ns, registry.nse);
    const [url] = await server.listen([unixUrl(`/tmp/nsm-regpath2-${process.pid}.sock`)]);
    const pool = new ChannelPool({ token: unsignedTokenGenerator('spiffe://td/nse', 60_000, Date.now) });
    cleanup.push(() => registry.dispose(), () => server.stop(100), () => pool.closeAll());
    const client = registryChain([nseRegistryClient({ pool, url: url! })]);
    const path: RegistryPath = { index: 0, pathSegments: [] };
    const answer = await firstValueFrom(client.register(NetworkServiceEndpoint.fromPartial({ name: 'nse-1', networkServiceNames: ['ns'] }), Context.background.with(registryPathKey, path)));
    expect(answer.pathIds).toEqual(['spiffe://td/nse', 'spiffe://td/registry']);
    expect(path.index).toBe(0);
    expect(path.pathSegments.map((s) => subjectOf(s.token))).toEqual(['spiffe://td/nse', 'spiffe://td/registry']);
    await lastValueFrom(client.unregister(answer, Context.background), { defaultValue: undefined });
  });
});

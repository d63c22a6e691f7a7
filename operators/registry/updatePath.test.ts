import { status } from '../core/status.js';
import { defer, firstValueFrom, lastValueFrom, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { incomingCallKey } from '../../streams/grpc/serve.js';
import { Context } from '../core/context.js';
import { registryChain, type NSEHandler } from '../core/registry.js';
import { tokenMetadata, unsignedTokenGenerator } from '../tools/token.js';
import { registryPathKey, type RegistryPath } from './grpcMetadata.js';
import { subjectOf, updatePath } from './updatePath.js';

const token = (sub: string) => unsignedTokenGenerator(sub, 60_000, () => 0)().token;
const nsmgr = unsignedTokenGenerator('spiffe://td/nsmgr', 60_000, () => 0);

/** A served call from `caller` carrying `path` (none: no path in the context). */
function call(caller: string, path?: RegistryPath): Context {
  const ctx = Context.background.with(incomingCallKey, { metadata: tokenMetadata({ token: token(caller), expires: 60_000 }), peer: 'unix:', identity: undefined });
  return path ? ctx.with(registryPathKey, path) : ctx;
}

/** updatePath over a chain that records the path and item it saw. */
function setup() {
  const seen: { path: RegistryPath | undefined; pathIds: string[] }[] = [];
  const record = (item: NetworkServiceEndpoint, ctx: Context) => seen.push({ path: structuredClone(ctx.get(registryPathKey)), pathIds: item.pathIds });
  const next: NSEHandler = registryChain([
    {
      register: (item, ctx) => defer(() => (record(item, ctx), of(item))),
      unregister: (item, ctx) => defer(() => (record(item, ctx), of(undefined))),
    },
  ]);
  return { seen, handler: registryChain([updatePath({ token: nsmgr })], next) };
}

const subjects = (path: RegistryPath | undefined) => path?.pathSegments.map((s) => subjectOf(s.token));

describe('updatePath (registry server)', () => {
  it('a first call (empty path): [caller, this hop] at index 1, path_ids named alike; the caller gets it back at index 0', async () => {
    const { seen, handler } = setup();
    const path: RegistryPath = { index: 0, pathSegments: [] };
    const answer = await firstValueFrom(handler.register(NetworkServiceEndpoint.fromPartial({ name: 'nse-1' }), call('spiffe://td/nse', path)));
    expect(seen[0]?.path?.index).toBe(1);
    expect(subjects(seen[0]?.path)).toEqual(['spiffe://td/nse', 'spiffe://td/nsmgr']);
    expect(answer.pathIds).toEqual(['spiffe://td/nse', 'spiffe://td/nsmgr']);
    expect(path.index).toBe(0);
    expect(subjects(path)).toEqual(['spiffe://td/nse', 'spiffe://td/nsmgr']);
  });

  it('a second hop appends its segment after the caller’s (whose token becomes the one the caller called us with)', async () => {
    const { seen, handler } = setup();
    const path: RegistryPath = { index: 1, pathSegments: [{ token: token('spiffe://td/nse') }, { token: 'stale' }] };
    const item = NetworkServiceEndpoint.fromPartial({ name: 'nse-1', pathIds: ['spiffe://td/nse', 'spiffe://td/old'] });
    const answer = await firstValueFrom(handler.register(item, call('spiffe://td/proxy', path)));
    expect(seen[0]?.path?.index).toBe(2);
    expect(subjects(seen[0]?.path)).toEqual(['spiffe://td/nse', 'spiffe://td/proxy', 'spiffe://td/nsmgr']);
    expect(answer.pathIds).toEqual(['spiffe://td/nse', 'spiffe://td/proxy', 'spiffe://td/nsmgr']);
    expect(path.index).toBe(1);
  });

  it('a refresh (our segment exists) replaces the tokens of the caller’s segment and ours', async () => {
    const { seen, handler } = setup();
    const path: RegistryPath = { index: 0, pathSegments: [{ token: 'old-nse' }, { token: 'old-ours' }, { token: 'next-hop' }] };
    await lastValueFrom(handler.unregister(NetworkServiceEndpoint.fromPartial({ name: 'nse-1' }), call('spiffe://td/nse', path)), { defaultValue: undefined });
    expect(subjects(seen[0]?.path)).toEqual(['spiffe://td/nse', 'spiffe://td/nsmgr', '']);
    expect(seen[0]?.path?.pathSegments[2]?.token).toBe('next-hop');
  });

  it('refuses an index past the path with INVALID_ARGUMENT', async () => {
    const { seen, handler } = setup();
    const path: RegistryPath = { index: 3, pathSegments: [{ token: 'a' }] };
    await expect(firstValueFrom(handler.register(NetworkServiceEndpoint.fromPartial({ name: 'nse-1' }), call('spiffe://td/nse', path)))).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      message: expect.stringContaining('Index+1 == 4 must be at most the number of segments (1)'),
    });
    expect(seen).toEqual([]);
  });

  it('without a path in the context works on a fresh one, as upstream (the item still gets its path_ids)', async () => {
    const { seen, handler } = setup();
    const answer = await firstValueFrom(handler.register(NetworkServiceEndpoint.fromPartial({ name: 'nse-1' }), call('spiffe://td/nse')));
    expect(seen[0]?.path).toBeUndefined();
    expect(answer.pathIds).toEqual(['spiffe://td/nse', 'spiffe://td/nsmgr']);
  });
});

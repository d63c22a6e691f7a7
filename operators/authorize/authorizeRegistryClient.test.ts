import { status } from '../core/status.js';
import { defer, firstValueFrom, lastValueFrom, of, VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint, type NetworkServiceEndpointQuery, type NetworkServiceEndpointResponse } from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import type { PeerIdentity } from '../core/peer.js';
import { registryChain, type NSEHandler } from '../core/registry.js';
import { registryServerKey } from '../registry/grpcClient.js';
import { registryPathKey } from '../registry/grpcMetadata.js';
import { testHop, type TestHop } from '../../test/registryHops.js';
import { authorizeRegistryClient, defaultRegistryClientPolicies } from './authorizeRegistryClient.js';
import { resolvePolicies } from './policies.js';

const policies = resolvePolicies(defaultRegistryClientPolicies.split(','));
const [nse, other, nsmgr, registry] = ['nse', 'other', 'nsmgr', 'registry'].map(testHop) as [TestHop, TestHop, TestHop, TestHop];
const item = NetworkServiceEndpoint.fromPartial({ name: 'nse-1' });
/** Policy time: the tokens (testHop) expire an hour after time 0. */
const atStart = new VirtualTimeScheduler();

/**
 * A registry as the client below authorize sees it: it answers with the path
 * [registrant, nsmgr, registry] at index 0 (the registrant's token naming the nsmgr), the
 * nsmgr as the TLS server, and path_ids naming the registrant. Unregisters are recorded.
 */
function remote(answer: { registrant: TestHop; server: PeerIdentity }) {
  const unregisters: string[] = [];
  const fill = (ctx: Context) => {
    const path = ctx.get(registryPathKey);
    if (path) Object.assign(path, { index: 0, pathSegments: [{ token: answer.registrant.token(nsmgr) }, { token: nsmgr.token(registry) }, { token: registry.token(nsmgr) }] });
    const server = ctx.get(registryServerKey);
    if (server) server.peer = answer.server;
  };
  const next: NSEHandler = registryChain([
    {
      register: (nse, ctx) => defer(() => (fill(ctx), of({ ...nse, pathIds: [answer.registrant.id, nsmgr.id, registry.id] }))),
      unregister: (nse, ctx) => defer(() => (fill(ctx), unregisters.push(nse.name), of(undefined))),
    },
  ]);
  return { unregisters, handler: registryChain([authorizeRegistryClient<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>({ policies, scheduler: atStart })], next) };
}

describe('authorizeRegistryClient (NSM_REGISTRY_CLIENT_POLICIES, upstream default: common, registry, client)', () => {
  it('accepts an answer whose path is chained, unexpired and whose next segment the server we dialed signed', async () => {
    const { handler, unregisters } = remote({ registrant: nse, server: nsmgr.peer });
    expect((await firstValueFrom(handler.register(item, Context.background))).pathIds[0]).toBe(nse.id);
    await lastValueFrom(handler.unregister(item, Context.background), { defaultValue: undefined });
    expect(unregisters).toEqual(['nse-1']);
  });

  it('refuses an answer the server did not sign (next_token_signed) with PERMISSION_DENIED, and unregisters the name it never held', async () => {
    const { handler, unregisters } = remote({ registrant: nse, server: other.peer });
    await expect(firstValueFrom(handler.register(item, Context.background))).rejects.toMatchObject({
      code: status.PERMISSION_DENIED,
      message: expect.stringContaining('authorize registry client: next_token_signed'),
    });
    expect(unregisters).toEqual(['nse-1']);
  });

  it('a refused answer for a name it holds is not unregistered (the earlier registration stands)', async () => {
    const answer = { registrant: nse, server: nsmgr.peer };
    const { handler, unregisters } = remote(answer);
    await firstValueFrom(handler.register(item, Context.background));
    answer.server = other.peer;
    await expect(firstValueFrom(handler.register(item, Context.background))).rejects.toMatchObject({ code: status.PERMISSION_DENIED });
    expect(unregisters).toEqual([]);
  });

  it('client_allowed: an answer naming another registrant for a name this client holds is refused', async () => {
    const answer = { registrant: nse, server: nsmgr.peer };
    const { handler } = remote(answer);
    await firstValueFrom(handler.register(item, Context.background));
    answer.registrant = other;
    await expect(firstValueFrom(handler.register(item, Context.background))).rejects.toMatchObject({ code: status.PERMISSION_DENIED, message: expect.stringContaining('client_allowed') });
  });
});

import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint, NetworkServiceEndpointQuery } from '../../proto/gen/registry.js';
import { registryClient } from '../../operators/chains/registryClient.js';
import { Context } from '../../operators/core/context.js';
import { registryChain } from '../../operators/core/registry.js';
import { defaultRegistryClientPolicies } from '../../operators/authorize/authorizeRegistryClient.js';
import { defaultRegistryServerPolicies, resolvePolicies } from '../../operators/authorize/policies.js';
import { nseRegistryClient } from '../../operators/registry/grpcClient.js';
import type { NsmUrl } from '../../operators/tools/nsmUrl.js';
import { useSandbox } from '../sandbox/harness.js';
import { Mesh } from '../sandbox/mesh.js';

/** Registers get a short budget: the registry unregisters at expiry − budget (lifetime 2 s here). */
const budget = (ms = 800) => Context.background.withDeadline(Date.now() + ms);
const serverPolicies = resolvePolicies(defaultRegistryServerPolicies.split(','));
const clientPolicies = resolvePolicies(defaultRegistryClientPolicies.split(','));
const endpoint = NetworkServiceEndpoint.fromPartial({ name: 'nse-x', url: 'tcp://127.0.0.1:1', networkServiceNames: ['ns'] });

describe('registry owner = the registrant at the head of the registry path (issue 13 item 1; secure sandbox, upstream default policies)', () => {
  const h = useSandbox({ secure: true });

  it('an NSE re-registers through another nsmgr (its pod moved) → accepted; another SPIFFE ID → PERMISSION_DENIED; after Unregister or expiry the name is free', async () => {
    const sandbox = await h.recreate({ secure: true, policies: { registryServer: serverPolicies } });
    const mesh = await Mesh.build(sandbox, { nodes: 2, defaultForwarder: false, expirePeriod: 2000, registrationBudget: 1000 });
    const [nsmgr0, nsmgr1] = [mesh.nodes[0]!.nsmgr.url, mesh.nodes[1]!.nsmgr.url];
    const registry = mesh.registry.url;
    /** One plain Register or Unregister as `who` (no refresh, no retry: a refusal shows at once). */
    const as = (who: string, url: NsmUrl) => registryChain([nseRegistryClient({ pool: sandbox.poolFor(who), url })]);
    const stored = async () =>
      lastValueFrom(registryChain([nseRegistryClient({ pool: sandbox.poolFor('reader'), url: registry })]).find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { name: 'nse-x' } }), budget()).pipe(toArray()));

    // nse-a registers via nsmgr-0: the registry stores the path ids [nse-a, nsmgr-0, registry].
    const first = await firstValueFrom(as('nse-a', nsmgr0).register(endpoint, budget()));
    expect(first.pathIds).toEqual(['spiffe://nsm.local/nse-a', 'spiffe://nsm.local/nsmgr-0', 'spiffe://nsm.local/registry']);
    // Its pod moves: the same SPIFFE ID registers the name via nsmgr-1, checking the answers with upstream's client policies.
    const moved = registryClient({ pool: sandbox.poolFor('nse-a'), url: nsmgr1, policies: clientPolicies });
    const second = await firstValueFrom(moved.nse.register(endpoint, budget()));
    expect(second.pathIds).toEqual(['spiffe://nsm.local/nse-a', 'spiffe://nsm.local/nsmgr-1', 'spiffe://nsm.local/registry']);
    expect((await stored()).map((r) => r.networkServiceEndpoint?.pathIds[1])).toEqual(['spiffe://nsm.local/nsmgr-1']);

    // Another NSE cannot take the name, through either nsmgr nor at the registry itself.
    for (const url of [nsmgr0, nsmgr1, registry]) {
      await expect(firstValueFrom(as('nse-b', url).register(endpoint, budget()))).rejects.toMatchObject({ code: 7, message: expect.stringContaining('client_allowed') });
    }
    await expect(lastValueFrom(as('nse-b', nsmgr1).unregister(endpoint, budget()), { defaultValue: undefined })).rejects.toMatchObject({ code: 7 });

    // Unregistered: the name is free for nse-b.
    await lastValueFrom(moved.nse.unregister(endpoint, budget()), { defaultValue: undefined });
    await firstValueFrom(as('nse-b', nsmgr1).register(endpoint, budget()));
    await expect(firstValueFrom(as('nse-c', nsmgr1).register(endpoint, budget()))).rejects.toMatchObject({ code: 7 });
    // nse-b dies without unregistering: once its registration expired (2 s), nse-c may take the name.
    await expect
      .poll(async () => (await firstValueFrom(as('nse-c', nsmgr1).register(endpoint, budget())).catch(() => undefined))?.pathIds[0], { timeout: 8000, interval: 250 })
      .toBe('spiffe://nsm.local/nse-c');
    await lastValueFrom(as('nse-c', nsmgr1).unregister(endpoint, budget()), { defaultValue: undefined });
  });
});

import { status } from '../core/status.js';
import { Metadata } from '../core/callMetadata.js';
import { defer, of, type Observable, type SchedulerLike } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint, type NetworkServiceEndpointQuery, type NetworkServiceEndpointResponse } from '../../proto/gen/registry.js';
import { incomingCallKey } from '../../streams/grpc/serve.js';
import { Context } from '../core/context.js';
import { msToTimestamp } from '../core/path.js';
import type { PeerIdentity } from '../core/peer.js';
import { registryChain, type NSEHandler } from '../core/registry.js';
import { registryPathKey, registryPathOf, type RegistryPath } from '../registry/grpcMetadata.js';
import { subjectOf } from '../registry/updatePath.js';
import { marbles } from '../../test/marbles.js';
import { testHop, type TestHop } from '../../test/registryHops.js';
import { authorizeRegistry } from './authorizeRegistry.js';
import { defaultRegistryServerPolicies, registryClientAllowed, resolvePolicies } from './policies.js';

const nse = NetworkServiceEndpoint.fromPartial({ name: 'nse-1' });
const [a, b, nsmgr, registry] = ['nse-a', 'nse-b', 'nsmgr', 'registry'].map(testHop) as [TestHop, TestHop, TestHop, TestHop];

/** A call reaching the registry with `path` (at the registry's index) from the TLS peer `peer`. */
const call = (path: RegistryPath, peer?: PeerIdentity) =>
  Context.background.with(incomingCallKey, { metadata: new Metadata(), peer: 'unix:', identity: peer }).with(registryPathKey, path);

/** The path a registry sees when `registrant` registers through nsmgr: [registrant, nsmgr, registry] at index 2. */
const viaNsmgr = (registrant: TestHop, nsmgrAudience: TestHop = registry): RegistryPath => ({
  index: 2,
  pathSegments: [{ token: registrant.token(nsmgr) }, { token: nsmgr.token(nsmgrAudience) }, { token: registry.token(nsmgr) }],
});

/** authorizeRegistry over a store answering with path_ids [registrant] and an expiry `lifetime` ms on. */
function setup(scheduler: SchedulerLike, policies: readonly string[], lifetime = 1000) {
  const store: NSEHandler = registryChain([
    {
      register: (item, ctx) =>
        defer(() => of({ ...item, pathIds: [subjectOf(registryPathOf(ctx).pathSegments[0]?.token)], expirationTime: msToTimestamp(scheduler.now() + lifetime) })),
    },
  ]);
  return registryChain([authorizeRegistry<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>({ policies, scheduler })], store);
}

/** Runs `attempts` (time, call) on `scheduler` and returns what each answered: the registrant's SPIFFE ID, or the refusal. */
function outcomes(scheduler: SchedulerLike, attempts: readonly [number, () => Observable<NetworkServiceEndpoint | void>][]): [number, string][] {
  const seen: [number, string][] = [];
  for (const [at, attempt] of attempts) {
    scheduler.schedule(() => attempt().subscribe({ next: (r) => seen.push([at, r ? r.pathIds[0]! : 'unregistered']), error: (e: { code: number; message: string }) => seen.push([at, `${e.code} ${e.message.replace(/^authorize: (\w+):.*$/, '$1')}`]) }), at);
  }
  return seen;
}

describe('authorizeRegistry: client_allowed over the registrant at the head of the registry path (issue 13 item 1)', () => {
  const clientAllowed = [registryClientAllowed];

  it('the owner registers again through another nsmgr; another registrant is refused until the registration expired, then may take the name', () => {
    marbles(({ flush }, scheduler) => {
      const handler = setup(scheduler, clientAllowed, 1000);
      const register = (who: TestHop) => () => handler.register(nse, call(viaNsmgr(who)));
      // a at 0 (expires 1000) and again at 300 (its pod moved; expires 1300); b at 500 and 1299 refused, at 1300 accepted
      const seen = outcomes(scheduler, [[0, register(a)], [300, register(a)], [500, register(b)], [1299, register(b)], [1300, register(b)]]);
      flush();
      expect(seen).toEqual([
        [0, a.id],
        [300, a.id],
        [500, `${status.PERMISSION_DENIED} client_allowed`],
        [1299, `${status.PERMISSION_DENIED} client_allowed`],
        [1300, b.id],
      ]);
    });
  });

  it('an Unregister by another registrant is refused; the owner’s frees the name at once', () => {
    marbles(({ flush }, scheduler) => {
      const handler = setup(scheduler, clientAllowed, 60_000);
      const register = (who: TestHop) => () => handler.register(nse, call(viaNsmgr(who)));
      const unregister = (who: TestHop) => () => handler.unregister(nse, call(viaNsmgr(who)));
      const seen = outcomes(scheduler, [[0, register(a)], [10, unregister(b)], [20, unregister(a)], [30, register(b)]]);
      flush();
      expect(seen).toEqual([
        [0, a.id],
        [10, `${status.PERMISSION_DENIED} client_allowed`],
        [20, 'unregistered'],
        [30, b.id],
      ]);
    });
  });
});

describe('authorizeRegistry: the registry policies over the path up to this hop (issue 13 item 15)', () => {
  const policies = resolvePolicies(defaultRegistryServerPolicies.split(','));

  it('passes a chained path whose previous segment the TLS caller signed; refuses a broken chain (tokens_chained), a segment the caller did not sign (prev_token_signed), an expired token', () => {
    marbles(({ flush }, scheduler) => {
      const handler = setup(scheduler, policies);
      const register = (path: RegistryPath, peer: PeerIdentity) => () => handler.register(nse, call(path, peer));
      const expired: RegistryPath = { index: 2, pathSegments: [{ token: a.token(nsmgr, 0) }, { token: nsmgr.token(registry) }, { token: registry.token(nsmgr) }] };
      // Only the left side counts: a segment after this hop's is not checked.
      const longer: RegistryPath = { ...viaNsmgr(a), pathSegments: [...viaNsmgr(a).pathSegments, { token: 'not a jwt' }] };
      const seen = outcomes(scheduler, [
        [0, register(viaNsmgr(a), nsmgr.peer)],
        [1, register(viaNsmgr(a, b), nsmgr.peer)],
        [2, register(viaNsmgr(a), b.peer)],
        [3, register(expired, nsmgr.peer)],
        [4, register(longer, nsmgr.peer)],
      ]);
      flush();
      expect(seen).toEqual([
        [0, a.id],
        [1, `${status.PERMISSION_DENIED} tokens_chained`],
        [2, `${status.PERMISSION_DENIED} prev_token_signed`],
        [3, `${status.PERMISSION_DENIED} tokens_expired`],
        [4, a.id],
      ]);
    });
  });

  it('without policies lets everything through (upstream Any)', () => {
    marbles(({ flush }, scheduler) => {
      const handler = setup(scheduler, []);
      const seen = outcomes(scheduler, [[0, () => handler.register(nse, call({ index: 0, pathSegments: [] }))]]);
      flush();
      expect(seen).toEqual([[0, '']]);
    });
  });
});

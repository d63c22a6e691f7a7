import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { registryChain, type NSEElement, type NSEHandler, type NSElement, type NSHandler } from '../core/registry.js';
import { nseBegin, type NSEBeginElement } from '../registry/begin.js';
import { nseExpire } from '../registry/expire.js';
import { nseInterdomain, nsInterdomain } from '../registry/interdomain.js';
import { newNSEStore, newNSStore, nseMemory, nsMemory, type NSEStore, type NSStore } from '../registry/memory.js';
import { setPayload } from '../registry/setPayload.js';
import { setRegistrationTime } from '../registry/setRegistrationTime.js';
import { validateNetworkService, validateNetworkServiceEndpoint } from '../registry/validate.js';
import { grpcMetadata } from '../registry/grpcMetadata.js';
import { updatePath } from '../registry/updatePath.js';
import type { TokenGenerator } from '../tools/token.js';
import { authorizeRegistry } from '../authorize/authorizeRegistry.js';
import { authorizeRegistryClient } from '../authorize/authorizeRegistryClient.js';
import { nseRegistryClient, nsRegistryClient } from '../registry/grpcClient.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import type { NsmUrl } from '../tools/nsmUrl.js';
import type { NetworkService, NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse, NetworkServiceQuery, NetworkServiceResponse } from '../../proto/gen/registry.js';

export interface MemoryRegistryOptions {
  /** Longest an NSE stays registered without a refresh, ms (NSM_REGISTRATION_LIFETIME; upstream hard-codes 1 min). */
  lifetime?: number;
  /** This registry's tokens (its own registry path segment). */
  token: TokenGenerator;
  /** Where `name@domain` belongs (NSM_PROXY_REGISTRY_URL: the nsmgr-proxy), called over `pool`. */
  proxyRegistryUrl?: NsmUrl;
  /** Channels to the proxy registry (needed with `proxyRegistryUrl`). */
  pool?: ChannelPool;
  /** Policy files the proxy registry's answers must pass (NSM_REGISTRY_CLIENT_POLICIES); none: allow all. */
  clientPolicies?: readonly string[];
  /** Policy files for Register/Unregister (NSM_REGISTRY_SERVER_POLICIES); none: allow all. */
  policies?: readonly string[];
  scheduler?: SchedulerLike;
}

/** A registry's two chains, its stores and what a leak check or shutdown needs. */
export interface MemoryRegistry {
  readonly ns: NSHandler;
  readonly nse: NSEHandler;
  readonly stores: { readonly ns: NSStore; readonly nse: NSEStore };
  readonly state: { readonly begin: NSEBeginElement };
  /** Ends every registration's expiry loop (the registry is going away). */
  dispose(): void;
}

/** The store elements of a registry's two chains (memory, or Kubernetes custom resources). */
export interface Stores {
  readonly ns: NSElement;
  readonly nse: NSEElement;
}

/** The proxy registry's two clients (authorize client → gRPC), when there is one. */
function proxyRegistry(options: MemoryRegistryOptions, scheduler: SchedulerLike): { ns: NSHandler; nse: NSEHandler } | undefined {
  const { proxyRegistryUrl: url, pool } = options;
  if (url === undefined || pool === undefined) return undefined;
  const authorize = { policies: options.clientPolicies ?? [], scheduler };
  return {
    ns: registryChain([authorizeRegistryClient<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(authorize), nsRegistryClient({ pool, url, scheduler })]),
    nse: registryChain([authorizeRegistryClient<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(authorize), nseRegistryClient({ pool, url, scheduler })]),
  };
}

/**
 * A registry's two chains around its stores, after input validation, both starting
 * grpcMetadata → updatePath → authorize (the registry path, as upstream):
 * - NSE: begin → interdomain switch (to the proxy registry) → setRegistrationTime → expire(lifetime) → store;
 * - NS: interdomain switch → setPayload → store.
 */
export function registryChains(options: MemoryRegistryOptions, stores: Stores): { ns: NSHandler; nse: NSEHandler; begin: NSEBeginElement } {
  const scheduler = options.scheduler ?? asyncScheduler;
  const begin = nseBegin({ scheduler });
  const expire = nseExpire({ defaultPeriod: options.lifetime ?? 60_000, scheduler });
  const policies = options.policies ?? [];
  const proxy = proxyRegistry(options, scheduler);
  const nse = registryChain([
    validateNetworkServiceEndpoint({ scheduler }),
    grpcMetadata<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(),
    updatePath<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>({ token: options.token }),
    authorizeRegistry<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>({ policies, scheduler }),
    begin,
    nseInterdomain(proxy?.nse),
    setRegistrationTime({ scheduler }),
    expire,
    stores.nse,
  ]);
  const ns = registryChain([
    validateNetworkService(),
    grpcMetadata<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(),
    updatePath<NetworkService, NetworkServiceQuery, NetworkServiceResponse>({ token: options.token }),
    authorizeRegistry<NetworkService, NetworkServiceQuery, NetworkServiceResponse>({ policies, scheduler }),
    nsInterdomain(proxy?.ns),
    setPayload(),
    stores.ns,
  ]);
  return { ns, nse, begin };
}

/** The memory registry (upstream registry/chains/memory): {@link registryChains} over `memory` stores. */
export function memoryRegistry(options: MemoryRegistryOptions): MemoryRegistry {
  const stores = { ns: newNSStore(), nse: newNSEStore() };
  const { ns, nse, begin } = registryChains(options, { ns: nsMemory(stores.ns), nse: nseMemory(stores.nse, { scheduler: options.scheduler ?? asyncScheduler }) });
  return { ns, nse, stores, state: { begin }, dispose: () => begin.dispose() };
}

import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { registryChain, type NSEHandler, type NSHandler } from '../core/registry.js';
import { nsBegin, nseBegin } from '../registry/begin.js';
import { nsDnsResolve, nseDnsResolve } from '../registry/dnsResolve.js';
import { nseRegistryClient, nsRegistryClient } from '../registry/grpcClient.js';
import { grpcMetadata } from '../registry/grpcMetadata.js';
import { updatePath } from '../registry/updatePath.js';
import { validateNetworkService, validateNetworkServiceEndpoint } from '../registry/validate.js';
import { authorizeRegistry } from '../authorize/authorizeRegistry.js';
import { authorizeRegistryClient } from '../authorize/authorizeRegistryClient.js';
import type { Logger } from '../tools/log.js';
import type { TokenGenerator } from '../tools/token.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import type { DnsResolver } from '../../streams/dns/resolver.js';
import type { NetworkService, NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse, NetworkServiceQuery, NetworkServiceResponse } from '../../proto/gen/registry.js';

export interface RegistryProxyDnsOptions {
  /** This proxy's tokens (its registry path segment). */
  token: TokenGenerator;
  /** Finds other domains' registries and nsmgr-proxies. */
  resolver: DnsResolver;
  /** Channels to the other domains' registries. */
  pool: ChannelPool;
  /** Dial timeout toward a remote registry, ms (upstream registry clients: 300 ms; default 5 s: another cluster is farther). */
  dialTimeout?: number;
  /** Policy files: `server` for Register/Unregister, `client` for the remote registries' answers (none: allow all). */
  policies?: { readonly server?: readonly string[]; readonly client?: readonly string[] };
  logger?: Logger;
  scheduler?: SchedulerLike;
}

/** registry-proxy-dns: both registries it serves, and shutdown. */
export interface RegistryProxyDns {
  readonly ns: NSHandler;
  readonly nse: NSEHandler;
  dispose(): void;
}

/**
 * registry-proxy-dns (upstream registry/chains/proxydns): forwards `name@domain` to the registry
 * of `domain`, found through DNS, as `name`, and answers with `name@domain` (endpoints with the
 * URL of that domain's nsmgr-proxy). In upstream order after input validation:
 * - NSE: grpcMetadata → updatePath → authorize → begin → dnsResolve → authorize client → registry;
 * - NS: grpcMetadata → updatePath → begin → authorize → dnsResolve → authorize client → registry.
 */
export function registryProxyDns(options: RegistryProxyDnsOptions): RegistryProxyDns {
  const scheduler = options.scheduler ?? asyncScheduler;
  const server = { policies: options.policies?.server ?? [], scheduler };
  const client = { policies: options.policies?.client ?? [], scheduler };
  const remote = { pool: options.pool, dialTimeout: options.dialTimeout ?? 5000, scheduler };
  const dns = { resolver: options.resolver, ...(options.logger ? { logger: options.logger } : {}) };
  const nseBeginElement = nseBegin({ scheduler });
  const nsBeginElement = nsBegin({ scheduler });
  const nse = registryChain([
    validateNetworkServiceEndpoint({ scheduler }),
    grpcMetadata<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(),
    updatePath<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>({ token: options.token }),
    authorizeRegistry<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(server),
    nseBeginElement,
    nseDnsResolve(dns),
    authorizeRegistryClient<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(client),
    nseRegistryClient(remote),
  ]);
  const ns = registryChain([
    validateNetworkService(),
    grpcMetadata<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(),
    updatePath<NetworkService, NetworkServiceQuery, NetworkServiceResponse>({ token: options.token }),
    nsBeginElement,
    authorizeRegistry<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(server),
    nsDnsResolve(dns),
    authorizeRegistryClient<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(client),
    nsRegistryClient(remote),
  ]);
  return {
    ns,
    nse,
    dispose: () => {
      nseBeginElement.dispose();
      nsBeginElement.dispose();
    },
  };
}

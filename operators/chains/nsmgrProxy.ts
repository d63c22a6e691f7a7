import { asyncScheduler, of, type Observable, type SchedulerLike } from 'rxjs';
import { registryChain, type NSEHandler, type NSHandler } from '../core/registry.js';
import { connect } from '../networkservice/connect.js';
import { discover } from '../networkservice/discover.js';
import { interdomainBypass } from '../networkservice/interdomainBypass.js';
import { clusterInfo } from '../networkservice/clusterInfo.js';
import { swapIpClient, swapIpServer, type IpMap } from '../networkservice/swapIp.js';
import { nseBegin } from '../registry/begin.js';
import { nseClusterInfo } from '../registry/clusterInfo.js';
import { nseRegistryClient, nsRegistryClient } from '../registry/grpcClient.js';
import { grpcMetadata } from '../registry/grpcMetadata.js';
import { InterdomainUrls, nseInterdomainBypass } from '../registry/interdomainBypass.js';
import { nseSwapIp } from '../registry/swapIp.js';
import { updatePath } from '../registry/updatePath.js';
import { authorizeRegistry } from '../authorize/authorizeRegistry.js';
import { authorizeRegistryClient } from '../authorize/authorizeRegistryClient.js';
import type { Logger } from '../tools/log.js';
import type { NsmUrl } from '../tools/nsmUrl.js';
import type { TokenGenerator } from '../tools/token.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import type { NetworkService, NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse, NetworkServiceQuery, NetworkServiceResponse } from '../../proto/gen/registry.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { client } from './client.js';
import { endpoint, type Endpoint } from './endpoint.js';

export interface NsmgrProxyOptions {
  /** Path segment name (NSM_NAME, upstream default nsmgr-proxy). */
  name: string;
  /** The URL other domains reach this proxy at (its listen URL through the map-ip map). */
  url: NsmUrl;
  /** This domain's registry (NSM_REGISTRY_URL): where local endpoints are discovered. */
  registryUrl: NsmUrl;
  /** The registry-proxy-dns (NSM_REGISTRY_PROXY_URL): where `name@domain` registry calls go. */
  registryProxyUrl: NsmUrl;
  pool: ChannelPool;
  /** Channels to the registries (default: `pool`). */
  registryPool?: ChannelPool;
  token: TokenGenerator;
  /** Internal → external addresses (the latest of the map-ip file); default: none (addresses as they are). */
  ips?: Observable<IpMap>;
  /** The cluster's properties (the latest of /etc/clusterinfo/config.yaml) for labels; default none. */
  clusterLabels?: Observable<Readonly<Record<string, string>>>;
  /** Dial timeout toward the next hop and the registries, ms (NSM_DIAL_TIMEOUT). */
  dialTimeout?: number;
  /** Policy files (none: allow all): NetworkService calls, registrations, registries' answers. */
  policies?: { readonly server?: readonly string[]; readonly registryServer?: readonly string[]; readonly registryClient?: readonly string[] };
  inodeUrlOf: (fileUrl: string) => string | undefined;
  logger?: Logger;
  scheduler?: SchedulerLike;
}

/** An nsmgr-proxy: its NetworkService endpoint, both registries, what it remembers, and shutdown. */
export interface NsmgrProxy {
  readonly endpoint: Endpoint;
  readonly ns: NSHandler;
  readonly nse: NSEHandler;
  /** Endpoint name → URL to dial (leak checks). */
  readonly urls: InterdomainUrls;
  dispose(): void;
}

/**
 * The nsmgr-proxy (upstream chains/nsmgrproxy), the hop between domains.
 * NetworkService: the endpoint chain + interdomainBypass → discover(this domain's registry) →
 * swapIp server → clusterInfo → connect(client{swapIp client, no refresh}).
 * NS registry: grpcMetadata → updatePath → authorize → authorize client → registry-proxy-dns.
 * NSE registry: grpcMetadata → updatePath → authorize → begin → interdomainBypass → swapIp →
 * clusterInfo → authorize client → registry-proxy-dns.
 */
export function nsmgrProxy(options: NsmgrProxyOptions): NsmgrProxy {
  const scheduler = options.scheduler ?? asyncScheduler;
  const ips = options.ips ?? of({});
  const labels = options.clusterLabels ?? of({});
  const dialTimeout = options.dialTimeout ?? 15_000;
  const registryPool = options.registryPool ?? options.pool;
  const urls = new InterdomainUrls();
  const server = { policies: options.policies?.registryServer ?? [], scheduler };
  const authorizeClient = { policies: options.policies?.registryClient ?? [], scheduler };
  const token = { token: options.token };
  const toProxyDns = { pool: registryPool, url: options.registryProxyUrl, dialTimeout, scheduler };
  const local = { pool: registryPool, url: options.registryUrl, dialTimeout, scheduler };

  const begin = nseBegin({ scheduler });
  const nse = registryChain([
    grpcMetadata<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(),
    updatePath<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(token),
    authorizeRegistry<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(server),
    begin,
    nseInterdomainBypass(urls, options.url),
    nseSwapIp(ips),
    nseClusterInfo(labels),
    authorizeRegistryClient<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(authorizeClient),
    nseRegistryClient(toProxyDns),
  ]);
  const ns = registryChain([
    grpcMetadata<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(),
    updatePath<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(token),
    authorizeRegistry<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(server),
    authorizeRegistryClient<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(authorizeClient),
    nsRegistryClient(toProxyDns),
  ]);

  const additional: NetworkServiceElement[] = [
    interdomainBypass(urls),
    // This domain's endpoints, straight from its registry (upstream: no authorize on these lookups).
    discover({ ns: registryChain([nsRegistryClient(local)]), nse: registryChain([nseRegistryClient(local)]), ...(options.logger ? { logger: options.logger } : {}), scheduler }),
    swapIpServer(ips),
    clusterInfo(labels),
    connect(
      client({ name: options.name, pool: options.pool, dialTimeout, refresh: false, token: options.token, inodeUrlOf: options.inodeUrlOf, additional: [swapIpClient(ips)], scheduler }).handler,
    ),
  ];
  return {
    endpoint: endpoint({ name: options.name, token: options.token, scheduler, additional, ...(options.policies?.server ? { policies: options.policies.server } : {}) }),
    ns,
    nse,
    urls,
    dispose: () => begin.dispose(),
  };
}

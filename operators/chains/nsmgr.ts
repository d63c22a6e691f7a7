import { asyncScheduler, of, type Observable, type SchedulerLike } from 'rxjs';
import { registryChain, type NSEHandler, type NSHandler } from '../core/registry.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { clientInfo } from '../networkservice/clientInfo.js';
import { connect } from '../networkservice/connect.js';
import { discoverForwarder } from '../networkservice/discoverForwarder.js';
import { excludedPrefixesServer } from '../networkservice/excludedPrefixes.js';
import { metrics } from '../networkservice/metrics.js';
import { netsvcMonitor } from '../networkservice/netsvcMonitor.js';
import { nseBegin, type NSEBeginElement } from '../registry/begin.js';
import { nseClientInfo } from '../registry/clientInfo.js';
import { nseExpire } from '../registry/expire.js';
import { nseRegistryClient, nsRegistryClient } from '../registry/grpcClient.js';
import { localBypass, type LocalBypassElement } from '../registry/localBypass.js';
import { newNSEStore, newNSStore, nseMemory, nsMemory } from '../registry/memory.js';
import type { Logger } from '../tools/log.js';
import type { Metrics } from '../tools/metrics.js';
import type { NsmUrl } from '../tools/nsmUrl.js';
import type { TokenGenerator } from '../tools/token.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import { findByNameFromViews, registryViews } from '../../streams/registryViews.js';
import { client } from './client.js';
import { authorizeRegistry } from '../authorize/authorizeRegistry.js';
import { authorizeRegistryClient } from '../authorize/authorizeRegistryClient.js';
import { grpcMetadata } from '../registry/grpcMetadata.js';
import { updatePath } from '../registry/updatePath.js';
import type { NetworkService, NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse, NetworkServiceQuery, NetworkServiceResponse } from '../../proto/gen/registry.js';
import { endpoint, type Endpoint } from './endpoint.js';

export interface NsmgrOptions {
  /** Path segment name (NSM_NAME). */
  name: string;
  /** The URL other nodes reach this nsmgr at (its first tcp listen URL). */
  url: NsmUrl;
  /** The registry (NSM_REGISTRY_URL); without one the nsmgr keeps an in-process registry. */
  registryUrl?: NsmUrl;
  pool: ChannelPool;
  /** Channels to the registry (default: `pool`); kept apart so connection channels can be counted. */
  registryPool?: ChannelPool;
  token: TokenGenerator;
  /** Forwarders are the NSEs of this service registered through this nsmgr (default "forwarder"). */
  forwarderServiceName?: string;
  /**
   * A stored forwarder that cannot be dialed is replaced by another (default); false fails the
   * Request until the client reselects, as upstream (NSM_RESELECT_UNREACHABLE_FORWARDER).
   */
  reselectUnreachableForwarder?: boolean;
  /** Excluded prefixes to hand to every IPAM downstream (the excluded_prefixes.yaml stream). */
  excludedPrefixes?: Observable<string[]>;
  /** Dial timeout toward forwarders and the registry, ms (NSM_DIAL_TIMEOUT). */
  dialTimeout?: number;
  /** NSE registrations expire after this without a refresh, ms (upstream: 1 min). */
  expirePeriod?: number;
  /** NODE_NAME, POD_NAME, CLUSTER_NAME for client info labels. */
  env?: Readonly<Record<string, string | undefined>>;
  logger?: Logger;
  /** Where the path's interface counters go after each Request and Close (upstream's metrics element). */
  metrics?: Pick<Metrics, 'recordPath'>;
  /**
   * Policy files: `server` for NetworkService calls, `registryServer` for registrations,
   * `registryClient` for the registry's answers (none: allow all).
   */
  policies?: { readonly server?: readonly string[]; readonly registryServer?: readonly string[]; readonly registryClient?: readonly string[] };
  /** A netns file URL as `inode://dev/ino`, for the inner client (ClientOptions.inodeUrlOf). */
  inodeUrlOf: (fileUrl: string) => string | undefined;
  scheduler?: SchedulerLike;
}

/** An nsmgr: its NetworkService endpoint and both registries it serves. */
export interface Nsmgr {
  readonly endpoint: Endpoint;
  readonly ns: NSHandler;
  readonly nse: NSEHandler;
  readonly state: { readonly begin: NSEBeginElement; readonly localBypass: LocalBypassElement };
  /** Ends the registrations' expiry loops and the discovery views' watches (shutdown). */
  dispose(): void;
}

/**
 * The nsmgr (upstream chains/nsmgr). Registries, both starting grpcMetadata → updatePath →
 * authorize (the registry path goes on to the registry, so it sees the NSE as the registrant):
 * NS → authorize client → the registry (or in-process memory);
 * NSE → begin → clientInfo → expire(1 min) → localBypass → authorize client → the registry (or
 * memory, then localBypass). NetworkService: the endpoint chain + clientInfo → discoverForwarder →
 * netsvcMonitor → excludedPrefixes → metrics (with `metrics`) → connect(client{dial, no refresh, no heal}); discoverForwarder
 * and netsvcMonitor read live registry views (streams/registryViews.ts) that `dispose` ends.
 */
export function nsmgr(options: NsmgrOptions): Nsmgr {
  const scheduler = options.scheduler ?? asyncScheduler;
  const remote = (url: NsmUrl) => ({ pool: options.registryPool ?? options.pool, url, dialTimeout: options.dialTimeout ?? 15_000, scheduler });
  const bypass = localBypass(options.url.href);
  const serverPolicies = { policies: options.policies?.registryServer ?? [], scheduler };
  const clientPolicies = { policies: options.policies?.registryClient ?? [], scheduler };
  const token = { token: options.token };
  const ns: NSHandler = registryChain([
    grpcMetadata<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(),
    updatePath<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(token),
    authorizeRegistry<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(serverPolicies),
    ...(options.registryUrl ? [authorizeRegistryClient<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(clientPolicies), nsRegistryClient(remote(options.registryUrl))] : [nsMemory(newNSStore())]),
  ]);
  // What the nsmgr's own lookups use: local NSEs with their real URLs, others via their nsmgr.
  const remoteOrLocal: NSEHandler = options.registryUrl
    ? registryChain([bypass, authorizeRegistryClient<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(clientPolicies), nseRegistryClient(remote(options.registryUrl))])
    : registryChain([nseMemory(newNSEStore(), { scheduler }), bypass]);
  const begin = nseBegin({ scheduler });
  const expire = nseExpire({ defaultPeriod: options.expirePeriod ?? 60_000, scheduler });
  const nse = registryChain(
    [
      grpcMetadata<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(),
      updatePath<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(token),
      authorizeRegistry<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(serverPolicies),
      begin,
      nseClientInfo(options.env ? { env: options.env } : {}),
      expire,
    ],
    remoteOrLocal,
  );

  const forwarderServiceName = options.forwarderServiceName ?? 'forwarder';
  // One Find-watch per network service and one for this nsmgr's forwarders, shared by every connection.
  const views = registryViews({ ns, nse: remoteOrLocal }, { scheduler });
  const additional: NetworkServiceElement[] = [
    clientInfo(options.env ? { env: options.env } : {}),
    discoverForwarder({
      ns,
      nse: remoteOrLocal,
      views,
      forwarderServiceName,
      // With an in-process registry every forwarder is this nsmgr's (and stored with its real URL).
      ...(options.registryUrl ? { nsmgrUrl: options.url.href } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      failing: (url) => options.pool.failing(url),
      ...(options.reselectUnreachableForwarder === false ? { reselectUnreachable: false } : {}),
    }),
    netsvcMonitor({ ns, nse: findByNameFromViews(views, remoteOrLocal), networkService: views.networkServiceVersions, scheduler }),
    excludedPrefixesServer(options.excludedPrefixes ?? of([])),
    ...(options.metrics ? [metrics(options.metrics)] : []),
    connect(client({ name: options.name, pool: options.pool, dialTimeout: options.dialTimeout ?? 15_000, refresh: false, token: options.token, inodeUrlOf: options.inodeUrlOf, scheduler }).handler),
  ];
  return {
    endpoint: endpoint({ name: options.name, token: options.token, scheduler, additional, ...(options.policies?.server ? { policies: options.policies.server } : {}) }),
    ns,
    nse,
    state: { begin, localBypass: bypass },
    dispose: () => {
      begin.dispose();
      views.dispose();
    },
  };
}

import { asyncScheduler, type SchedulerLike } from 'rxjs';
import type { NSEHandler, NSHandler } from '../core/registry.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { connect } from '../networkservice/connect.js';
import { crossConnect } from '../networkservice/crossConnect.js';
import { discover } from '../networkservice/discover.js';
import { interfaceMetrics } from '../networkservice/interfaceMetrics.js';
import { mechanismPriority } from '../networkservice/mechanismPriority.js';
import { roundRobin } from '../networkservice/roundRobin.js';
import type { TokenGenerator } from '../tools/token.js';
import type { Datapath } from '../../dataplane/datapath.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import type { RegistryViews } from '../../streams/registryViews.js';
import { client } from './client.js';
import { endpoint, type Endpoint } from './endpoint.js';

export interface ForwarderOptions {
  /** Path segment name (NSM_NAME). */
  name: string;
  /** The registries as seen through this node's nsmgr (NSM_CONNECT_TO). */
  registry: { readonly ns: NSHandler; readonly nse: NSEHandler };
  /** Live views over `registry` that discover reads first; the node owns them (disposes at stop). */
  views?: RegistryViews;
  datapath: Datapath;
  pool: ChannelPool;
  token: TokenGenerator;
  /** Dial timeout toward the next hop, ms (NSM_DIAL_TIMEOUT; upstream sandbox 2 s). */
  dialTimeout?: number;
  /** Mechanism types the outgoing Request offers first, in this order (NSM_MECHANISM_PRIORITY). */
  mechanismPriority?: readonly string[];
  /** Extra elements after crossConnect (tests: counters, error injection). */
  additional?: readonly NetworkServiceElement[];
  /** Policy files its authorize element enforces (none: allow all). */
  policies?: readonly string[];
  /** A netns file URL as `inode://dev/ino`, for the inner client (ClientOptions.inodeUrlOf). */
  inodeUrlOf: (fileUrl: string) => string | undefined;
  scheduler?: SchedulerLike;
}

/**
 * A forwarder's control plane (upstream sandbox forwarder + sdk-kernel's layout): the endpoint
 * chain + discover → roundRobin → interfaceMetrics → crossConnect(datapath) → mechanismPriority (when
 * given: the outgoing preferences reordered, as sdk-vpp's forwarder) → connect(client{dial, no refresh}).
 * It finds the endpoint (or, for a remote one, the nsmgr of its node), joins both sides in the
 * datapath and dials the next hop directly.
 */
export function forwarder(options: ForwarderOptions): Endpoint {
  const scheduler = options.scheduler ?? asyncScheduler;
  return endpoint({
    name: options.name,
    token: options.token,
    scheduler,
    ...(options.policies ? { policies: options.policies } : {}),
    additional: [
      discover({ ns: options.registry.ns, nse: options.registry.nse, ...(options.views ? { views: options.views } : {}), scheduler }),
      roundRobin(),
      interfaceMetrics(options.datapath),
      crossConnect(options.datapath),
      ...(options.mechanismPriority?.length ? [mechanismPriority(...options.mechanismPriority)] : []),
      ...(options.additional ?? []),
      connect(client({ name: options.name, pool: options.pool, dialTimeout: options.dialTimeout ?? 2000, refresh: false, token: options.token, inodeUrlOf: options.inodeUrlOf, scheduler }).handler),
    ],
  });
}

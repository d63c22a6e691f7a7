import { asyncScheduler, Subject, type SchedulerLike } from 'rxjs';
import { registryChain, type NSEHandler, type NSHandler } from '../core/registry.js';
import { nseBeginClient, nsBeginClient } from '../registry/begin.js';
import { nseRegistryClient, nsRegistryClient } from '../registry/grpcClient.js';
import { nseHeal, nsHeal } from '../registry/heal.js';
import { nseRefresh } from '../registry/refresh.js';
import { restoreUnixUrl } from '../registry/restoreUnixUrl.js';
import { registryRetry, type RegistryRetryOptions } from '../registry/retry.js';
import { untilStopped } from '../registry/untilStopped.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import { inodeUrlOf } from '../../streams/inodes.js';
import type { NsmUrl } from '../tools/nsmUrl.js';
import { authorizeRegistryClient } from '../authorize/authorizeRegistryClient.js';
import type { NetworkService, NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse, NetworkServiceQuery, NetworkServiceResponse } from '../../proto/gen/registry.js';

export interface RegistryClientOptions {
  pool: ChannelPool;
  /** The registry, or the nsmgr that proxies it (NSM_REGISTRY_URL / NSM_CONNECT_TO). */
  url: NsmUrl;
  /** Dial timeout, ms (upstream registry client: 300 ms). */
  dialTimeout?: number;
  /** Policy files the registry's answers must pass (NSM_REGISTRY_CLIENT_POLICIES); none: accept all. */
  policies?: readonly string[];
  /** Told of every failed try the retry will repeat (daemons log it, as upstream). */
  onRetry?: RegistryRetryOptions['onFailure'];
  scheduler?: SchedulerLike;
}

/** Both registry clients of a daemon, with their per-name state for leak checks. */
export interface RegistryClient {
  readonly ns: NSHandler;
  readonly nse: NSEHandler;
  /** Names each element still holds something for (empty once everything is unregistered). */
  leftovers(): string[];
  /** Stops every refresh and heal loop and ends every call in flight, without unregistering (the owner died). */
  dispose(): void;
}

/**
 * The registry client every daemon uses (upstream registry/chains/client), in upstream order:
 * - NSE: begin → untilStopped (dispose) → retry → heal → refresh → authorize → restoreUnixUrl (upstream's sendfd) → dial + call;
 * - NS: begin → untilStopped → retry → heal → authorize → dial + call.
 * A Register keeps itself alive: refreshed at 2/3 of its expiry and registered again when the
 * registry restarts (heal's Find watch breaks); Unregister stops both.
 */
export function registryClient(options: RegistryClientOptions): RegistryClient {
  const scheduler = options.scheduler ?? asyncScheduler;
  const retryOptions: RegistryRetryOptions = { scheduler, ...(options.onRetry ? { onFailure: options.onRetry } : {}) };
  const remote = { pool: options.pool, url: options.url, dialTimeout: options.dialTimeout ?? 300, scheduler };
  const nseBegin = nseBeginClient({ scheduler });
  const nsBegin = nsBeginClient({ scheduler });
  const nseWatch = nseHeal({ scheduler });
  const nsWatch = nsHeal({ scheduler });
  const refresh = nseRefresh({ scheduler });
  const authorize = { policies: options.policies ?? [], scheduler };
  const stopped = new Subject<void>();
  const held: [string, ReadonlyMap<string, unknown>][] = [
    ['nse begin', nseBegin.names],
    ['ns begin', nsBegin.names],
  ];
  return {
    nse: registryChain([
      nseBegin,
      untilStopped(stopped),
      registryRetry(retryOptions),
      nseWatch,
      refresh,
      authorizeRegistryClient<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(authorize),
      restoreUnixUrl(inodeUrlOf),
      nseRegistryClient(remote),
    ]),
    ns: registryChain([nsBegin, untilStopped(stopped), registryRetry(retryOptions), nsWatch, authorizeRegistryClient<NetworkService, NetworkServiceQuery, NetworkServiceResponse>(authorize), nsRegistryClient(remote)]),
    leftovers: () => held.filter(([, names]) => names.size > 0).map(([what, names]) => `${what} holds ${[...names.keys()].join(',')}`),
    dispose: () => {
      stopped.next();
      nseBegin.dispose();
      nsBegin.dispose();
    },
  };
}

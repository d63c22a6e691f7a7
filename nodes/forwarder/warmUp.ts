import { asyncScheduler, firstValueFrom } from 'rxjs';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { client } from '../../operators/chains/client.js';
import { Context } from '../../operators/core/context.js';
import type { NSEHandler } from '../../operators/core/registry.js';
import { findEndpoints } from '../../operators/networkservice/discover.js';
import type { NsmUrl } from '../../operators/tools/nsmUrl.js';
import type { TokenGenerator } from '../../operators/tools/token.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import type { RegistryViews } from '../../streams/registryViews.js';
import { preDial } from '../cli/preDial.js';

/** A network service nobody registers: the warm-up Request ends at discover. */
export const WARM_UP_SERVICE = 'nsm-rx-forwarder-warm-up';

export interface WarmUpOptions {
  /** The forwarder's name; the warm-up client is `<name>-warm-up`. */
  readonly name: string;
  /** Where the forwarder serves. */
  readonly url: NsmUrl;
  readonly pool: ChannelPool;
  readonly token: TokenGenerator;
  readonly inodeUrlOf: (fileUrl: string) => string | undefined;
  /** The NSE registry through the forwarder's nsmgr. */
  readonly nse: NSEHandler;
  /** The network service forwarders register as (their URLs are not next hops). */
  readonly forwarderService: string;
  /** The views discover reads (see warmNextHops). */
  readonly views: RegistryViews;
}

/**
 * A fresh forwarder served its first Request in about twice the time of the next ones: every
 * code path compiled on first use, mTLS handshakes, the first registry Find. At start it
 * Requests itself once, as an nsmgr would, for a network service nobody registers: the client
 * chain (the one its connect uses toward the next hop), mTLS both ways, token signing and
 * verification, the endpoint chain up to discover and a Find through its nsmgr all run, and
 * the Request ends NOT_FOUND before any datapath work. Resolves with that outcome's text.
 */
export async function warmUp(options: WarmUpOptions): Promise<string> {
  const self = client({ name: `${options.name}-warm-up`, pool: options.pool, url: options.url, refresh: false, token: options.token, inodeUrlOf: options.inodeUrlOf });
  const request = NetworkServiceRequest.fromPartial({
    connection: { networkService: WARM_UP_SERVICE },
    mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL' }],
  });
  try {
    await firstValueFrom(self.handler.request(request, Context.background.withDeadline(asyncScheduler.now() + 5_000)));
    return 'served (a network service named like the warm-up one is registered)';
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    self.state.metadata.dispose();
  }
}

/** At most this many next hops (and network services) are warmed: a registry of thousands must not cost a burst of handshakes and watches. */
const WARM_AT_MOST = 32;

/**
 * Readies what the first Requests for the endpoints the registry knows will need, at most 32
 * of each: a connected channel (handshakes done, see preDial) to each endpoint, and the views
 * discover reads (its network service, its endpoints) opened, so the first Request for such a
 * service finds its candidates without a Find. Views nobody reads close after their linger
 * (1 min). Answers how many next hops are connected and how many services are watched.
 */
export async function warmNextHops(options: Pick<WarmUpOptions, 'nse' | 'forwarderService' | 'views' | 'pool'>): Promise<{ nextHops: number; services: number }> {
  const endpoints = (await firstValueFrom(findEndpoints(options.nse, {}, Context.background.withDeadline(asyncScheduler.now() + 5_000)))).filter((e) => !e.networkServiceNames.includes(options.forwarderService));
  const services = [...new Set(endpoints.flatMap((e) => e.networkServiceNames))].slice(0, WARM_AT_MOST);
  for (const name of services) {
    options.views.networkService(name);
    options.views.endpoints({ networkServiceNames: [name] });
  }
  const urls = [...new Set(endpoints.map((e) => e.url))].slice(0, WARM_AT_MOST);
  const ready = await Promise.all(urls.map((url) => preDial(options.pool, url, 2_000)));
  return { nextHops: ready.filter(Boolean).length, services: services.length };
}

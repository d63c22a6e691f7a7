import { asyncScheduler, firstValueFrom } from 'rxjs';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { client } from '../../operators/chains/client.js';
import { Context } from '../../operators/core/context.js';
import type { NSEHandler } from '../../operators/core/registry.js';
import { findEndpoints } from '../../operators/networkservice/discover.js';
import type { NsmUrl } from '../../operators/tools/nsmUrl.js';
import type { TokenGenerator } from '../../operators/tools/token.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
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

/** At most this many next hops are pre-dialled: a registry of thousands must not cost a burst of handshakes. */
const PRE_DIAL_AT_MOST = 32;

/** Connects (handshakes done) a channel to the next hops the registry knows, at most 32 (see preDial); answers how many. */
export async function dialNextHops(options: WarmUpOptions): Promise<number> {
  const endpoints = await firstValueFrom(findEndpoints(options.nse, {}, Context.background.withDeadline(asyncScheduler.now() + 5_000)));
  const urls = new Set(endpoints.filter((e) => !e.networkServiceNames.includes(options.forwarderService)).map((e) => e.url));
  const ready = await Promise.all([...urls].slice(0, PRE_DIAL_AT_MOST).map((url) => preDial(options.pool, url, 2_000)));
  return ready.filter(Boolean).length;
}

import { tap } from 'rxjs/operators';
import type { NSEHandler } from '../../operators/core/registry.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import { preDial } from '../cli/preDial.js';

/**
 * The nsmgr's NSE registry, with one addition: once a forwarder's Register (or refresh)
 * succeeded, the pool's channel to it is connected — handshakes done — and left to linger
 * there, so the first Request the forwarder is chosen for (a heal after its predecessor died)
 * does not wait for them. Other endpoints are dialled when a Request needs them, as before.
 */
export function preDialForwarders(nse: NSEHandler, pool: ChannelPool, forwarderService: string, dialTimeoutMs: number): NSEHandler {
  return {
    ...nse,
    register: (item, ctx) =>
      nse.register(item, ctx).pipe(
        tap(() => {
          if (item.networkServiceNames.includes(forwarderService)) void preDial(pool, item.url, dialTimeoutMs);
        }),
      ),
  };
}

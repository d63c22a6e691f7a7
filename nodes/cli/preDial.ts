import { asyncScheduler } from 'rxjs';
import { parseNsmUrl, type NsmUrl } from '../../operators/tools/nsmUrl.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';

/**
 * Connects `pool`'s channel to a registered `url` ahead of the first call — connection and TLS
 * handshake done — and gives it back, where it lingers for the pool's idle time. Resolves true
 * once it is ready; false when the URL cannot be dialled (not an NSM URL: discovery refuses it
 * too) or the peer did not answer within `timeoutMs`.
 */
export function preDial(pool: ChannelPool, url: string, timeoutMs: number): Promise<boolean> {
  let parsed: NsmUrl;
  try {
    parsed = parseNsmUrl(url);
  } catch {
    return Promise.resolve(false);
  }
  const channel = pool.acquire(parsed);
  return new Promise((resolve) =>
    channel.client.waitForReady(asyncScheduler.now() + timeoutMs, (error) => {
      channel.release();
      resolve(error === undefined);
    }),
  );
}

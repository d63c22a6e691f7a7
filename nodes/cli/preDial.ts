import { firstValueFrom, timeout } from 'rxjs';
import { HealthService } from '../../proto/gen/health.js';
import { Context } from '../../operators/core/context.js';
import { parseNsmUrl, type NsmUrl } from '../../operators/tools/nsmUrl.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import { unaryCall } from '../../streams/grpc/call.js';
import { waitReady } from '../../operators/networkservice/dial.js';

/**
 * Connects `pool`'s channel to a registered `url` ahead of the first call and gives it back,
 * where it lingers for the pool's idle time. Connected is not yet warm: the first call on a new
 * connection cost both ends several milliseconds more than the next ones (a heal through a fresh
 * forwarder paid it on every hop), so a new connection is asked once, by the peer's gRPC health,
 * whether it serves NetworkService — a call every NSM server answers (upstream registers health
 * too), whatever the answer; a connection already up is left as it is. Resolves true once
 * connected; false when the URL cannot be dialled (not an NSM URL: discovery refuses it too, or
 * nothing listens there) or the peer did not answer within `timeoutMs`.
 */
export async function preDial(pool: ChannelPool, url: string, timeoutMs: number): Promise<boolean> {
  let parsed: NsmUrl;
  try {
    parsed = parseNsmUrl(url);
  } catch {
    return false;
  }
  const channel = pool.acquire(parsed);
  // A connection already up has had its first call (a registration refresh pre-dials again).
  const connected = channel.client.current === 'ready';
  try {
    const ready = await firstValueFrom(waitReady(channel, timeoutMs), { defaultValue: true }).catch(() => false);
    if (ready && !connected) await firstValueFrom(unaryCall(channel, HealthService.check, { service: 'networkservice.NetworkService' }, Context.background).pipe(timeout(timeoutMs))).catch(() => undefined);
    return ready;
  } finally {
    channel.release();
  }
}

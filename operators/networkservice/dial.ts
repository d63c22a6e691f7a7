import { concat, defer, EMPTY, throwError, type Observable } from 'rxjs';
import { catchError, ignoreElements, takeWhile, tap, timeout } from 'rxjs/operators';
import { onSettle } from '../tools/onSettle.js';
import type { Connection } from '../../proto/gen/connection.js';
import { ContextKey, type Context } from '../core/context.js';
import { DialError } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { backingOff, type ChannelPool, type PooledChannel } from '../../streams/grpc/channelPool.js';
import type { NsmUrl } from '../tools/nsmUrl.js';
import { clientUrlKey, clientUrlOf } from './clientUrl.js';
import { metadataOf, type ConnectionMetadata } from './metadata.js';

/** The channel to the next hop of this connection (upstream clientconn), kept in its metadata. */
export const clientConnKey = new ContextKey<PooledChannel>('clientConn');

/**
 * Waits until the channel is ready, at most `timeoutMs` of real time (dialing is I/O). An
 * attempt that fails while we wait (refused: nothing listens there) fails the dial at once
 * instead of at the timeout — a dead next hop is known in a millisecond, and heal should not
 * wait out the dial timeout to learn it. (`dial` never waits on a channel backing off after an
 * earlier failure: it takes a new one, which tries at once.)
 *
 * ```
 * states   i-c-----r          i-c---f           i-c----------
 * waitReady ------|            ------#(refused)  ---- timeoutMs #
 * ```
 */
export function waitReady(channel: PooledChannel, timeoutMs: number): Observable<never> {
  const { href } = channel.url;
  return defer(() => {
    channel.client.connect();
    return channel.client.states;
  }).pipe(
    takeWhile((state) => state !== 'ready'),
    tap((state) => {
      if (state === 'failing') throw new DialError(`cannot dial ${href}: ${channel.client.failure || 'the connection closed'}`);
      // A channel closed under us (its node stopped, the pool closed) will never be ready.
      if (state === 'shutdown') throw new DialError(`cannot dial ${href}: the channel was closed`);
    }),
    ignoreElements(),
    timeout({ first: timeoutMs, with: () => throwError(() => new DialError(`cannot dial ${href} within ${timeoutMs} ms`)) }),
  );
}

/**
 * `then()` once the channel is ready (see waitReady). A channel in use is nearly always ready
 * already: then nothing waits, no timer is armed and its states are not watched.
 */
export function whenReady<T>(channel: PooledChannel, timeoutMs: number, then: () => Observable<T>): Observable<T> {
  return defer(() => (channel.client.current === 'ready' ? then() : concat(waitReady(channel, timeoutMs), defer(then))));
}

/**
 * `dial`: borrows a channel for the URL in the context, waits until it is ready (at most
 * `timeout` ms) and keeps it in the connection's metadata for the gRPC call and for monitoring.
 * When the URL changes (another forwarder or NSE), the connection is first Closed at the old hop.
 * Close goes to the context's URL (else the one dialed before) and then gives the channel back.
 */
export function dial(options: { pool: ChannelPool; timeout: number }): NetworkServiceElement {
  const { pool, timeout } = options;
  const release = (meta: ConnectionMetadata) => meta.delete(clientConnKey)?.release();
  /**
   * The connection's channel, re-pointed at `url` if it was dialed elsewhere — and anew if it is
   * backing off after a failed connect: the next hop is dead, or back at the same URL, and a new
   * channel (the pool's, see ChannelPool.borrow) knows which at once, not after grpc-js's backoff.
   */
  const channelFor = (meta: ConnectionMetadata, url: NsmUrl): { channel: PooledChannel; fresh: boolean } => {
    const kept = meta.get(clientConnKey);
    if (kept?.url.href === url.href && !backingOff(kept)) return { channel: kept, fresh: false };
    kept?.release();
    const channel = pool.acquire(url);
    meta.set(clientConnKey, channel);
    return { channel, fresh: true };
  };
  return {
    request: (request, ctx, next) =>
      defer(() => {
        const url = clientUrlOf(ctx);
        if (url === undefined) return next.request(request, ctx);
        const meta = metadataOf(ctx);
        const old = meta.get(clientConnKey);
        const requestNext = () => {
          const { channel, fresh } = channelFor(meta, url);
          return whenReady(channel, timeout, () => next.request(request, ctx)).pipe(
            tap({ error: () => fresh && meta.get(clientConnKey) === channel && release(meta) }),
          );
        };
        if (!old || old.url.href === url.href || backingOff(old)) return requestNext();
        // Best effort: the old hop may be gone (not waited for when its channel is backing off),
        // and then its own timeout cleans up.
        const closeOld = whenReady(old, timeout, () => next.close(request.connection as Connection, ctx.with(clientUrlKey, old.url))).pipe(
          ignoreElements(),
          catchError(() => EMPTY),
        );
        return concat(closeOld, defer(requestNext));
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        const meta = metadataOf(ctx);
        const kept = meta.get(clientConnKey);
        const url = clientUrlOf(ctx) ?? kept?.url;
        if (url === undefined) return next.close(conn, ctx);
        channelFor(meta, url);
        return next.close(conn, ctx.with(clientUrlKey, url)).pipe(onSettle(() => release(meta)));
      }),
  };
}

/** Reads the connection's channel (for the gRPC call and passthrough monitoring). */
export function clientConnOf(ctx: Context): PooledChannel | undefined {
  return metadataOf(ctx).get(clientConnKey);
}

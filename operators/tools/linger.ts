import { timer, type MonoTypeOperatorFunction, type SchedulerLike } from 'rxjs';
import { share } from 'rxjs/operators';

/**
 * Keeps the source subscribed for up to `duration` after its subscriber lets go, unheard, so
 * that it can end by itself; unsubscribes it then if it has not. For a stream whose cancel costs
 * the other side something (a gRPC call's cancel is an HTTP/2 RST_STREAM, and Node's HTTP/2
 * server closes a session after ~1000 quick ones) — when the other side is about to end it anyway.
 * It is rxjs's `share` with a delayed reset (as streams/registryViews.ts keeps its views): a
 * subscriber that comes within `duration` gets the held source, not a new one.
 *
 * ```
 * source:          --a--b-------c-----|
 * subscriber:      ^------!
 * linger(5):       --a--b-
 * source held:     ^-----------! (unsubscribed 5 frames after the subscriber let go)
 *
 * source:          --a--b---|
 * subscriber:      ^------!
 * source held:     ^--------! (ended on its own first)
 * ```
 */
export function linger<T>(duration: number, scheduler: SchedulerLike): MonoTypeOperatorFunction<T> {
  return share({ resetOnRefCountZero: () => timer(duration, scheduler) });
}

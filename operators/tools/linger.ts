import { Subject, timer, type MonoTypeOperatorFunction, type SchedulerLike, type SubjectLike } from 'rxjs';
import { share } from 'rxjs/operators';

/**
 * Keeps the source subscribed for up to `duration` after its subscriber lets go, unheard, so
 * that it can end by itself; unsubscribes it then if it has not. For a stream whose cancel costs
 * the other side something (a gRPC call's cancel is an HTTP/2 RST_STREAM, and Node's HTTP/2
 * server closes a session after ~1000 quick ones) — when the other side is about to end it anyway.
 * It is rxjs's `share` with a delayed reset (`connector` as in share: a ReplaySubject replays
 * the latest value to later subscribers): a subscriber that comes within `duration` gets the
 * held source, not a new one, and one that comes after the source ended hears that end. Not
 * resetting on the end matters: a share reset by its source's end arms its refcount-zero timer
 * anyway when the last subscriber then leaves, which kept every ended stream's state alive for
 * `duration` (a next hop's stream a connection).
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
export function linger<T>(duration: number, scheduler: SchedulerLike, connector: () => SubjectLike<T> = () => new Subject<T>()): MonoTypeOperatorFunction<T> {
  return share({ connector, resetOnRefCountZero: () => timer(duration, scheduler), resetOnComplete: false, resetOnError: false });
}

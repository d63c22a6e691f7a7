/**
 * The 'error' listener of an HTTP/2 stream whose end is read from 'close'. Defined here, not
 * as an arrow where the stream is used: V8 closures of one scope share its context, so even an
 * empty arrow would hold everything the call's other closures hold (its subscriber, its chain)
 * for as long as the closed stream lives — until a full GC, as its native handle keeps it
 * through scavenges.
 */
export function ignoreError(): void {}

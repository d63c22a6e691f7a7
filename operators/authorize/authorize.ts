import { asyncScheduler, defer, throwError, type SchedulerLike } from 'rxjs';
import { tap } from 'rxjs/operators';
import type { Connection } from '../../proto/gen/connection.js';
import type { Context } from '../core/context.js';
import { permissionDenied } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import type { PeerIdentity } from '../core/peer.js';
import { incomingCallKey } from '../../streams/grpc/serve.js';
import type { SpiffeIdConnections } from './connections.js';
import { checkPath, type PathInput } from './policies.js';

export interface AuthorizeOptions {
  /** Policy files (resolvePolicies); none allows everything (upstream's `Any`). */
  readonly policies: readonly string[];
  /** Filled with the caller's connections, for the monitor's service_connection check. */
  readonly connections?: SpiffeIdConnections;
  readonly scheduler?: SchedulerLike;
}

/** The policy input of a connection's path: the segments up to `index` (or all), as upstream's left/right side. */
export function pathInput(conn: Connection, peer: PeerIdentity | undefined, now: number, upToIndex: boolean): PathInput {
  const path = conn.path;
  const index = path?.index ?? 0;
  const segments = (path?.pathSegments ?? []).slice(0, upToIndex ? index + 1 : undefined);
  return { segments, index, peer, now };
}

/** The ids this path gives its caller (every segment up to this hop's). */
const ownedIds = (conn: Connection): string[] => (conn.path?.pathSegments ?? []).slice(0, (conn.path?.index ?? 0) + 1).map((s) => s.id);

/**
 * `authorize(policies)` (server side, after updateToken): a Request or Close that came over gRPC
 * passes only if every policy allows the path up to this hop, with the caller's TLS identity as
 * the peer; else PERMISSION_DENIED naming the policy and why. A call made in-process (no gRPC
 * caller) is not checked, as upstream checks only with a gRPC peer. A granted Request records
 * the caller's SPIFFE ID as owning the connection (for the monitor); a Close forgets it as it
 * starts.
 *
 * ```
 * request (tokens chained, signed by the caller) --R-->  next
 * request (token signed by someone else)         --R--X  PERMISSION_DENIED: prev_token_signed: …
 * ```
 */
export function authorize(options: AuthorizeOptions): NetworkServiceElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const check = (conn: Connection, ctx: Context): { peer: PeerIdentity | undefined; denied: Error | undefined } => {
    const call = ctx.get(incomingCallKey);
    if (call === undefined) return { peer: undefined, denied: undefined };
    const why = checkPath(options.policies, pathInput(conn, call.identity, scheduler.now(), true));
    return { peer: call.identity, denied: why === undefined ? undefined : permissionDenied(`authorize: ${why}`) };
  };
  return {
    request: (request, ctx, next) =>
      defer(() => {
        const { peer, denied } = check(request.connection as Connection, ctx);
        if (denied) return throwError(() => denied);
        return next.request(request, ctx).pipe(tap((conn) => peer && options.connections?.add(peer.id, ownedIds(conn))));
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        const { peer, denied } = check(conn, ctx);
        if (denied) return throwError(() => denied);
        // Forgotten as the Close starts, not when it ends: a Close slowed by a dead next hop may
        // end after the client's next Request made it the owner again.
        if (peer) options.connections?.remove(peer.id, ownedIds(conn));
        return next.close(conn, ctx);
      }),
  };
}

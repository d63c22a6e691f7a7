import { asyncScheduler, concat, defer, EMPTY, of, throwError, type SchedulerLike } from 'rxjs';
import { catchError, concatMap, ignoreElements } from 'rxjs/operators';
import { ContextKey } from '../core/context.js';
import { permissionDenied } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { clientConnOf } from '../networkservice/dial.js';
import { metadataOf } from '../networkservice/metadata.js';
import { pathInput } from './authorize.js';
import { checkPath } from './policies.js';

/** Set once a connection passed the policies (kept in its metadata until Close). */
const authorizedKey = new ContextKey<true>('authorizeClient.authorized');

/**
 * `authorizeClient(policies)` (client side, before the call goes out; after metadata): the
 * connection a server returns is accepted only if every policy allows its path, with the
 * server's TLS identity as the peer (next_token_signed: the server signed its own segment).
 * A refused Request fails with PERMISSION_DENIED; if the connection never passed before, it is
 * Closed at the server again. A refresh that fails keeps the connection, as upstream's does:
 * the caller still holds it and decides.
 *
 * ```
 * first request, signed by the server we dialed  --R--> conn
 * first request, signed by another key           --R--X PERMISSION_DENIED (and a Close goes out)
 * refresh of an authorized conn, refused         --R--X PERMISSION_DENIED (no Close)
 * ```
 */
export function authorizeClient(options: { policies: readonly string[]; scheduler?: SchedulerLike }): NetworkServiceElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  return {
    request: (request, ctx, next) =>
      next.request(request, ctx).pipe(
        concatMap((conn) => {
          const meta = metadataOf(ctx);
          const why = checkPath(options.policies, pathInput(conn, clientConnOf(ctx)?.peer?.(), scheduler.now(), false));
          if (why === undefined) {
            meta.set(authorizedKey, true);
            return of(conn);
          }
          const denied = throwError(() => permissionDenied(`authorize client: ${why}`));
          if (meta.get(authorizedKey)) return denied;
          return concat(defer(() => next.close(conn, ctx.withoutDeadline())).pipe(ignoreElements(), catchError(() => EMPTY)), denied);
        }),
      ),
  };
}

import { asyncScheduler, concat, defer, EMPTY, of, throwError, type SchedulerLike } from 'rxjs';
import { catchError, concatMap, ignoreElements } from 'rxjs/operators';
import { permissionDenied } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { clientConnOf } from '../networkservice/dial.js';
import { pathInput } from './authorize.js';
import { checkPath } from './policies.js';

/**
 * `authorizeClient(policies)` (client side, before the call goes out): the connection a server
 * returns is accepted only if every policy allows its path, with the server's TLS identity as
 * the peer (next_token_signed: the server signed its own segment). A refused one is Closed at
 * the server again and the Request fails with PERMISSION_DENIED.
 *
 * ```
 * response signed by the server we dialed  --R--> conn
 * response signed by another key           --R--X PERMISSION_DENIED (and a Close goes out)
 * ```
 */
export function authorizeClient(options: { policies: readonly string[]; scheduler?: SchedulerLike }): NetworkServiceElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  return {
    request: (request, ctx, next) =>
      next.request(request, ctx).pipe(
        concatMap((conn) => {
          const why = checkPath(options.policies, pathInput(conn, clientConnOf(ctx)?.peer?.(), scheduler.now(), false));
          if (why === undefined) return of(conn);
          return concat(
            defer(() => next.close(conn, ctx.withoutDeadline())).pipe(ignoreElements(), catchError(() => EMPTY)),
            throwError(() => permissionDenied(`authorize client: ${why}`)),
          );
        }),
      ),
  };
}

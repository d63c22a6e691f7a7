import { concat, defer, EMPTY, throwError } from 'rxjs';
import { catchError, concatMap, ignoreElements } from 'rxjs/operators';
import { cloneConnection } from '../core/clone.js';
import { messageOf, NsmError, statusOf } from '../core/errors.js';
import type { NetworkServiceElement, NetworkServiceHandler } from '../core/networkservice.js';

/**
 * `connect(client)` (server side): a passthrough hop. The request first goes out through the
 * client chain (to the next hop); then the rest of the server chain sees the returned
 * connection. If that fails, the outgoing connection is Closed again so nothing is left behind.
 * Close goes to both; errors are joined.
 */
export function connect(client: NetworkServiceHandler): NetworkServiceElement {
  return {
    request: (request, ctx, next) =>
      client.request(request, ctx).pipe(
        concatMap((conn) => {
          request.connection = conn;
          return next.request(request, ctx).pipe(
            catchError((err: unknown) =>
              concat(client.close(conn, ctx.withoutDeadline()).pipe(ignoreElements(), catchError(() => EMPTY)), throwError(() => err)),
            ),
          );
        }),
      ),
    close: (conn, ctx, next) =>
      defer(() => {
        const errors: unknown[] = [];
        const collect = (e: unknown) => {
          errors.push(e);
          return EMPTY;
        };
        return concat(
          // A copy: the client chain advances the path in place (its own segment, its own id),
          // and the rest of this hop must still see its own connection.
          client.close(cloneConnection(conn), ctx).pipe(ignoreElements(), catchError(collect)),
          next.close(conn, ctx).pipe(ignoreElements(), catchError(collect)),
          defer(() => {
            if (errors.length === 0) return [undefined];
            const code = statusOf(errors[errors.length - 1]);
            return throwError(() => new NsmError(code, `close: ${errors.map(messageOf).join('; ')}`));
          }),
        );
      }),
  };
}

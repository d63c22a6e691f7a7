import { asyncScheduler, concat, defer, EMPTY, throwError, type SchedulerLike } from 'rxjs';
import { catchError, concatMap, ignoreElements, map } from 'rxjs/operators';
import { NetworkServiceService } from '../../proto/gen/networkservice.js';
import { cloneConnection } from '../core/clone.js';
import { messageOf, NsmError, statusOf, unavailable } from '../core/errors.js';
import type { NetworkServiceElement, NetworkServiceHandler } from '../core/networkservice.js';
import { outgoingTokenKey, unaryCall } from '../../streams/grpc/call.js';
import type { Context } from '../core/context.js';
import type { TokenGenerator } from '../tools/token.js';
import { clientConnOf } from './dial.js';

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

/**
 * `grpcClient` (end of a client chain): sends the call over the connection's channel.
 * Like upstream's connect client, it does not pass the call on.
 */
export function grpcClient(options: { scheduler?: SchedulerLike; token?: TokenGenerator } = {}): NetworkServiceElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const generate = options.token;
  // The caller's token rides in call metadata; the next hop's updateToken files it in our segment.
  const withToken = (ctx: Context): Context => (generate ? ctx.with(outgoingTokenKey, generate) : ctx);
  return {
    request: (request, ctx) =>
      defer(() => {
        const channel = clientConnOf(ctx);
        if (channel === undefined) return throwError(() => unavailable('no next hop: the client chain has no URL to dial'));
        return unaryCall(channel, NetworkServiceService.request, request, withToken(ctx), scheduler);
      }),
    close: (conn, ctx) =>
      defer(() => {
        const channel = clientConnOf(ctx);
        if (channel === undefined) return throwError(() => unavailable('no next hop to close at'));
        return unaryCall(channel, NetworkServiceService.close, conn, withToken(ctx), scheduler).pipe(map(() => undefined));
      }),
  };
}

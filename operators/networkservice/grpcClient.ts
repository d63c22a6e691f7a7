import { asyncScheduler, defer, throwError, type SchedulerLike } from 'rxjs';
import { map } from 'rxjs/operators';
import { NetworkServiceService } from '../../proto/gen/networkservice.js';
import { unavailable } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { outgoingTokenKey, unaryCall } from '../../streams/grpc/call.js';
import type { Context } from '../core/context.js';
import type { TokenGenerator } from '../tools/token.js';
import { clientConnOf } from './dial.js';

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

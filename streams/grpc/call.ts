import { Metadata, type Client } from '@grpc/grpc-js';
import { asyncScheduler, Observable, type SchedulerLike } from 'rxjs';
import { ContextKey, type Context } from '../../operators/core/context.js';
import { toNsmError } from '../../operators/core/errors.js';
import type { MethodDef } from './method.js';

/** gRPC metadata to send with outgoing calls made under this context (tokens, registry path). */
export const outgoingMetadataKey = new ContextKey<Metadata>('grpc.outgoingMetadata');

/** Metadata and call options of an outgoing call under `ctx` (deadline as the wall-clock Date grpc-js expects). */
function callSettings(ctx: Context, scheduler: SchedulerLike): [Metadata, { deadline: Date | undefined }] {
  const deadline = ctx.deadline === undefined ? undefined : new Date(Date.now() + (ctx.deadline - scheduler.now()));
  return [ctx.get(outgoingMetadataKey) ?? new Metadata(), { deadline }];
}

/**
 * A unary call as a cold Observable: subscribe sends it, unsubscribe cancels it on the wire.
 * Remote errors keep their status code (as NsmError).
 */
export function unaryCall<Req, Res>(
  client: Client,
  method: MethodDef<Req, Res>,
  request: Req,
  ctx: Context,
  scheduler: SchedulerLike = asyncScheduler,
): Observable<Res> {
  return new Observable<Res>((subscriber) => {
    let done = false;
    const [metadata, options] = callSettings(ctx, scheduler);
    const call = client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, metadata, options, (err, response) => {
      done = true;
      if (err) subscriber.error(toNsmError(err));
      else {
        subscriber.next(response as Res);
        subscriber.complete();
      }
    });
    return () => done || call.cancel();
  });
}

/** A server-streaming call as an Observable of its messages; unsubscribe cancels the stream. */
export function serverStreamCall<Req, Res>(
  client: Client,
  method: MethodDef<Req, Res>,
  request: Req,
  ctx: Context,
  scheduler: SchedulerLike = asyncScheduler,
): Observable<Res> {
  return new Observable<Res>((subscriber) => {
    let done = false;
    const stream = client.makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, request, ...callSettings(ctx, scheduler));
    stream.on('data', (message: Res) => subscriber.next(message));
    stream.on('error', (err: unknown) => {
      done = true;
      subscriber.error(toNsmError(err));
    });
    stream.on('end', () => {
      done = true;
      subscriber.complete();
    });
    return () => done || stream.cancel();
  });
}

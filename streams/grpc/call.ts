import { CallCredentials, Metadata, type CallOptions, type Client } from '@grpc/grpc-js';
import { asyncScheduler, defer, Observable, type SchedulerLike, type Subscriber } from 'rxjs';
import { ContextKey, type Context } from '../../operators/core/context.js';
import { toNsmError } from '../../operators/core/errors.js';
import type { MethodDef } from './method.js';
import type { CallObserver } from '../../operators/tools/metrics.js';
import { spanKey } from '../../operators/tools/traceContext.js';
import type { CallTracing } from '../../operators/tools/tracing.js';
import { carrierOf } from './carrier.js';
import { endingSpan, observeCall } from './observeCall.js';
import type { PeerIdentity } from '../../operators/core/peer.js';
import { tokenMetadata, type TokenGenerator } from '../../operators/tools/token.js';

/** gRPC metadata to send with outgoing calls made under this context (tokens, registry path). */
export const outgoingMetadataKey = new ContextKey<Metadata>('grpc.outgoingMetadata');

/** Called with the response headers of a unary call made under this context (upstream grpc.Header). */
export const responseHeadersKey = new ContextKey<(headers: Metadata) => void>('grpc.responseHeaders');

/** The token generator of outgoing calls under this context (a chain's own identity; else the channel's). */
export const outgoingTokenKey = new ContextKey<TokenGenerator>('grpc.outgoingToken');

/** What a call goes over: a gRPC client, the server identity TLS proved, the caller's token. */
export interface CallChannel {
  readonly client: Client;
  /** The server's identity from the channel's last handshake (undefined on plaintext). */
  peer?(): PeerIdentity | undefined;
  /** The token every call on this channel carries unless the context names another. */
  readonly token?: TokenGenerator | undefined;
  /** Told of every call made on it and how it ended (Prometheus). */
  readonly observe?: CallObserver | undefined;
  /** A client span for every call made on it (TELEMETRY=true). */
  readonly tracing?: CallTracing | undefined;
}

/**
 * A call as `make` builds it (cold) under `ctx`, counted by the channel's observer and, with
 * tracing, inside a client span whose context its metadata carries to the server.
 */
function instrumented<Res>(channel: CallChannel, path: string, ctx: Context, unary: boolean, make: (ctx: Context) => Observable<Res>): Observable<Res> {
  const tracing = channel.tracing;
  if (tracing === undefined) return make(ctx).pipe(observeCall(channel.observe, path, unary));
  return defer(() => {
    const metadata = ctx.get(outgoingMetadataKey)?.clone() ?? new Metadata();
    const span = tracing.call(path, ctx.get(spanKey), carrierOf(metadata));
    return make(ctx.with(outgoingMetadataKey, metadata)).pipe(observeCall(endingSpan(channel.observe, span), path, unary));
  });
}

/**
 * Metadata and call options of an outgoing call under `ctx`: deadline as the wall-clock Date
 * grpc-js expects; the caller's token as per-call credentials, made once the channel is
 * connected, so that its audience is the server TLS just verified (upstream per-RPC credentials).
 */
function callSettings(channel: CallChannel, ctx: Context, scheduler: SchedulerLike): [Metadata, CallOptions] {
  const deadline = ctx.deadline === undefined ? undefined : new Date(Date.now() + (ctx.deadline - scheduler.now()));
  const generate = ctx.get(outgoingTokenKey) ?? channel.token;
  const credentials =
    generate && CallCredentials.createFromMetadataGenerator((_options, callback) => {
      try {
        callback(null, tokenMetadata(generate(channel.peer?.())));
      } catch (e) {
        callback(e instanceof Error ? e : new Error(String(e)));
      }
    });
  return [ctx.get(outgoingMetadataKey) ?? new Metadata(), { deadline, ...(credentials ? { credentials } : {}) }];
}

/**
 * A unary call as a cold Observable: subscribe sends it, unsubscribe cancels it on the wire.
 * Remote errors keep their status code (as NsmError).
 */
export function unaryCall<Req, Res>(
  channel: CallChannel,
  method: MethodDef<Req, Res>,
  request: Req,
  ctx: Context,
  scheduler: SchedulerLike = asyncScheduler,
): Observable<Res> {
  return instrumented(channel, method.path, ctx, true, (traced) => new Observable<Res>((subscriber) => {
    let done = false;
    const [metadata, options] = callSettings(channel, traced, scheduler);
    const call = channel.client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, metadata, options, (err, response) => {
      done = true;
      if (err) subscriber.error(toNsmError(err));
      else {
        subscriber.next(response as Res);
        subscriber.complete();
      }
    });
    const onHeaders = ctx.get(responseHeadersKey);
    if (onHeaders) call.on('metadata', onHeaders);
    return () => done || call.cancel();
  }));
}

/** A server-streaming call as an Observable of its messages; unsubscribe cancels the stream. */
export function serverStreamCall<Req, Res>(
  channel: CallChannel,
  method: MethodDef<Req, Res>,
  request: Req,
  ctx: Context,
  scheduler: SchedulerLike = asyncScheduler,
): Observable<Res> {
  return instrumented(channel, method.path, ctx, false, (traced) => new Observable<Res>((subscriber) => {
    const stream = channel.client.makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, request, ...callSettings(channel, traced, scheduler));
    const ended = forwardAnswers(stream, subscriber);
    return () => ended() || stream.cancel();
  }));
}

/** Puts a call's answers, its error (with its status) and its end into `subscriber`; tells whether it ended. */
function forwardAnswers<Res>(stream: NodeJS.EventEmitter, subscriber: Subscriber<Res>): () => boolean {
  let done = false;
  stream.on('data', (message: Res) => subscriber.next(message));
  stream.on('error', (err: unknown) => {
    done = true;
    subscriber.error(toNsmError(err));
  });
  stream.on('end', () => {
    done = true;
    subscriber.complete();
  });
  return () => done;
}

/**
 * A bidirectional-streaming call: subscribing opens it and sends every message of `requests`
 * (their completion half-closes); the Observable carries the answers; unsubscribing cancels it.
 */
export function bidiStreamCall<Req, Res>(
  channel: CallChannel,
  method: MethodDef<Req, Res>,
  requests: Observable<Req>,
  ctx: Context,
  scheduler: SchedulerLike = asyncScheduler,
): Observable<Res> {
  return instrumented(channel, method.path, ctx, false, (traced) => new Observable<Res>((subscriber) => {
    const stream = channel.client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, ...callSettings(channel, traced, scheduler));
    const ended = forwardAnswers(stream, subscriber);
    const sending = requests.subscribe({
      next: (message) => stream.write(message),
      error: (e: unknown) => subscriber.error(toNsmError(e)),
      complete: () => stream.end(),
    });
    return () => {
      sending.unsubscribe();
      if (!ended()) stream.cancel();
    };
  }));
}

import { Metadata } from '../../operators/core/callMetadata.js';
import { asyncScheduler, defer, type Observable, type SchedulerLike } from 'rxjs';
import { ContextKey, type Context } from '../../operators/core/context.js';
import type { MethodDef } from './method.js';
import type { CallSettings } from './clientCall.js';
import type { ClientChannel } from './clientChannel.js';
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

/** What a call goes over: a gRPC channel, the server identity TLS proved, the caller's token. */
export interface CallChannel {
  readonly client: Pick<ClientChannel, 'call'>;
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
 * What an outgoing call under `ctx` carries: its metadata, its deadline, and the caller's token
 * made once the channel is connected, so that its audience is the server TLS just verified
 * (upstream per-RPC credentials).
 */
function callSettings(channel: CallChannel, ctx: Context, scheduler: SchedulerLike): CallSettings {
  const generate = ctx.get(outgoingTokenKey) ?? channel.token;
  return {
    metadata: ctx.get(outgoingMetadataKey) ?? new Metadata(),
    deadline: ctx.deadline,
    scheduler,
    credentials: generate && ((peer) => tokenMetadata(generate(peer))),
    onHeaders: ctx.get(responseHeadersKey),
  };
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
  return instrumented(channel, method.path, ctx, true, (traced) => channel.client.call(method, { one: request }, callSettings(channel, traced, scheduler)));
}

/** A server-streaming call as an Observable of its messages; unsubscribe cancels the stream. */
export function serverStreamCall<Req, Res>(
  channel: CallChannel,
  method: MethodDef<Req, Res>,
  request: Req,
  ctx: Context,
  scheduler: SchedulerLike = asyncScheduler,
): Observable<Res> {
  return instrumented(channel, method.path, ctx, false, (traced) => channel.client.call(method, { one: request }, callSettings(channel, traced, scheduler)));
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
  return instrumented(channel, method.path, ctx, false, (traced) => channel.client.call(method, { all: requests }, callSettings(channel, traced, scheduler)));
}

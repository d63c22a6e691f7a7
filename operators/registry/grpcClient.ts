import { asyncScheduler, defer, throwError, type Observable, type SchedulerLike } from 'rxjs';
import { finalize, map, tap } from 'rxjs/operators';
import { NetworkServiceEndpointRegistryService, NetworkServiceRegistryService } from '../../proto/gen/registry.js';
import type { NSEElement, NSElement, RegistryElement } from '../core/registry.js';
import { Metadata } from '../core/callMetadata.js';
import { outgoingMetadataKey, responseHeadersKey, serverStreamCall, unaryCall, type CallChannel } from '../../streams/grpc/call.js';
import { ContextKey, type Context } from '../core/context.js';
import type { PeerIdentity } from '../core/peer.js';
import { registryPathFromMetadata, registryPathJson, registryPathKey, registryPathMetadataKey, registryPathOf, type RegistryPath } from './grpcMetadata.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import type { MethodDef } from '../../streams/grpc/method.js';
import type { NsmUrl } from '../tools/nsmUrl.js';
import { whenReady } from '../networkservice/dial.js';
import { internal } from '../core/errors.js';
import { registryUrlOf } from './clientUrl.js';

export interface RegistryClientOptions {
  pool: ChannelPool;
  /** The registry (or nsmgr) to call; without it, the one an element chose for the call ({@link registryUrlKey}). */
  url?: NsmUrl;
  /** Dial timeout in ms (upstream registry client: 300 ms). */
  dialTimeout?: number;
  scheduler?: SchedulerLike;
}

/** Filled after a successful Register or Unregister: the server as TLS proved it (upstream grpc.Peer). */
export const registryServerKey = new ContextKey<{ peer: PeerIdentity | undefined }>('registry.server');

/**
 * A Register or Unregister under `ctx` as upstream's registry grpcmetadata client sends it: the
 * context's registry path (empty when there is none: a first hop) in the `path` metadata; once
 * the call succeeded, the path the server answered in its `path` header replaces the
 * context's, and the server's identity is noted for the authorize client.
 */
function pathCall<X>(channel: CallChannel, ctx: Context, call: (ctx: Context) => Observable<X>): Observable<X> {
  return defer(() => {
    const path = ctx.get(registryPathKey);
    const md = ctx.get(outgoingMetadataKey)?.clone() ?? new Metadata();
    md.set(registryPathMetadataKey, registryPathJson(registryPathOf(ctx)));
    let answered: RegistryPath | undefined;
    const readHeaders = (headers: Metadata) => {
      try {
        answered = registryPathFromMetadata(headers);
      } catch {
        answered = undefined; // as upstream: a path that does not parse leaves ours as it was
      }
    };
    return call(ctx.with(outgoingMetadataKey, md).with(responseHeadersKey, readHeaders)).pipe(
      tap(() => {
        if (path && answered) Object.assign(path, answered);
        const server = ctx.get(registryServerKey);
        if (server) server.peer = channel.peer?.();
      }),
    );
  });
}

interface RegistryMethods<T, Q, R> {
  register: MethodDef<T, T>;
  find: MethodDef<Q, R>;
  unregister: MethodDef<T, object>;
}

/**
 * End of a registry client chain: calls the remote registry over a pooled channel.
 * Find is a live stream; unsubscribing cancels it on the wire.
 */
function registryClient<T, Q, R>(service: RegistryMethods<T, Q, R>, options: RegistryClientOptions): RegistryElement<T, Q, R> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const dialTimeout = options.dialTimeout ?? 300;
  const withChannel = <X>(ctx: Context, call: (channel: ReturnType<ChannelPool['acquire']>) => Observable<X>): Observable<X> =>
    defer(() => {
      const url = options.url ?? registryUrlOf(ctx);
      if (url === undefined) return throwError(() => internal('registry client: no registry URL for this call'));
      const channel = options.pool.acquire(url);
      return whenReady(channel, dialTimeout, () => call(channel)).pipe(finalize(() => channel.release()));
    });
  return {
    register: (item, ctx) => withChannel(ctx, (c) => pathCall(c, ctx, (call) => unaryCall(c, service.register, item, call, scheduler))),
    find: (query, ctx) => withChannel(ctx, (c) => serverStreamCall(c, service.find, query, ctx, scheduler)),
    unregister: (item, ctx) => withChannel(ctx, (c) => pathCall(c, ctx, (call) => unaryCall(c, service.unregister, item, call, scheduler)).pipe(map(() => undefined))),
  };
}

export const nsRegistryClient = (options: RegistryClientOptions): NSElement => registryClient(NetworkServiceRegistryService, options);
export const nseRegistryClient = (options: RegistryClientOptions): NSEElement => registryClient(NetworkServiceEndpointRegistryService, options);

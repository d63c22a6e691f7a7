import { asyncScheduler, concat, defer, type Observable, type SchedulerLike } from 'rxjs';
import { finalize, map } from 'rxjs/operators';
import { NetworkServiceEndpointRegistryService, NetworkServiceRegistryService } from '../../proto/gen/registry.js';
import type { NSEElement, NSElement, RegistryElement } from '../core/registry.js';
import { Metadata } from '@grpc/grpc-js';
import { outgoingMetadataKey, serverStreamCall, unaryCall } from '../../streams/grpc/call.js';
import type { Context } from '../core/context.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import type { MethodDef } from '../../streams/grpc/method.js';
import type { NsmUrl } from '../tools/nsmUrl.js';
import { waitReady } from '../networkservice/dial.js';

export interface RegistryClientOptions {
  pool: ChannelPool;
  /** The registry (or nsmgr) to call. */
  url: NsmUrl;
  /** Dial timeout in ms (upstream registry client: 300 ms). */
  dialTimeout?: number;
  scheduler?: SchedulerLike;
}

/** The gRPC metadata key upstream's registry path travels in (sdk registry grpcmetadata). */
export const registryPathMetadataKey = 'path';

/**
 * Register and Unregister carry upstream's registry path in metadata, as JSON. We send it empty
 * (what a first call sends): the server files our token (nsm-client-token) as the path's first
 * segment and its own as the second, and its policies check that path. Without the key at all,
 * an upstream registry has no path to authorize and refuses every registration
 * (prev_token_signed).
 */
function withRegistryPath(ctx: Context): Context {
  const md = ctx.get(outgoingMetadataKey)?.clone() ?? new Metadata();
  md.set(registryPathMetadataKey, JSON.stringify({ Index: 0, PathSegments: [] }));
  return ctx.with(outgoingMetadataKey, md);
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
  const withChannel = <X>(call: (channel: ReturnType<ChannelPool['acquire']>) => Observable<X>): Observable<X> =>
    defer(() => {
      const channel = options.pool.acquire(options.url);
      return concat(waitReady(channel, dialTimeout), call(channel)).pipe(finalize(() => channel.release()));
    });
  return {
    register: (item, ctx) => withChannel((c) => unaryCall(c, service.register, item, withRegistryPath(ctx), scheduler)),
    find: (query, ctx) => withChannel((c) => serverStreamCall(c, service.find, query, ctx, scheduler)),
    unregister: (item, ctx) => withChannel((c) => unaryCall(c, service.unregister, item, withRegistryPath(ctx), scheduler).pipe(map(() => undefined))),
  };
}

export const nsRegistryClient = (options: RegistryClientOptions): NSElement => registryClient(NetworkServiceRegistryService, options);
export const nseRegistryClient = (options: RegistryClientOptions): NSEElement => registryClient(NetworkServiceEndpointRegistryService, options);

import { defer, type Observable } from 'rxjs';
import { map } from 'rxjs/operators';
import { Metadata } from '../core/callMetadata.js';
import { ContextKey, type Context } from '../core/context.js';
import { invalidArgument, messageOf } from '../core/errors.js';
import type { RegistryElement } from '../core/registry.js';
import { incomingCallKey } from '../../streams/grpc/serve.js';

/**
 * Upstream's registry path (sdk registry grpcmetadata.Path): the tokens of the hops a Register
 * or Unregister went through, the registrant first, and the index of the hop holding it. It
 * travels beside the call in gRPC metadata, not in the message. Elements below grpcMetadata
 * change it in place, as upstream's do, so the hops above see the path the registry answered.
 */
export interface RegistryPath {
  index: number;
  pathSegments: { token: string }[];
}

/** The gRPC metadata key (request) and header key (response) the path travels in. */
export const registryPathMetadataKey = 'path';

/** Longest registry path accepted: a few hops in practice (nse → nsmgr → registry → proxies). */
export const maxRegistryPathSegments = 64;

export const registryPathKey = new ContextKey<RegistryPath>('registry.path');

/** The path of the call under `ctx`; a fresh empty one when there is none (upstream PathFromContext). */
export function registryPathOf(ctx: Context): RegistryPath {
  return ctx.get(registryPathKey) ?? { index: 0, pathSegments: [] };
}

/** The path as upstream writes it: Go's encoding/json of Path (`{"Index":1,"PathSegments":[{"token":"…"}]}`). */
export function registryPathJson(path: RegistryPath): string {
  return JSON.stringify({ Index: path.index, PathSegments: path.pathSegments.map((s) => ({ token: s.token })) });
}

/** A JSON object's field as Go's encoding/json finds it: exact name first, else any case. */
function field(o: Record<string, unknown>, name: string): unknown {
  if (name in o) return o[name];
  const key = Object.keys(o).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : o[key];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses a path value; throws naming what is wrong. */
export function parseRegistryPath(json: string): RegistryPath {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    throw new Error(`is not JSON: ${messageOf(e)}`);
  }
  if (!isObject(value)) throw new Error('must be a JSON object {"Index":N,"PathSegments":[{"token":"…"},…]}');
  const index = field(value, 'Index') ?? 0;
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 0xffffffff) throw new Error('Index must be an unsigned 32-bit integer');
  const segments = field(value, 'PathSegments') ?? [];
  if (!Array.isArray(segments)) throw new Error('PathSegments must be an array');
  if (segments.length > maxRegistryPathSegments) throw new Error(`PathSegments has ${segments.length} entries; at most ${maxRegistryPathSegments} are allowed`);
  return {
    index,
    pathSegments: segments.map((s: unknown, i) => {
      if (s === null) return { token: '' };
      const token = isObject(s) ? (field(s, 'token') ?? '') : undefined;
      if (typeof token !== 'string') throw new Error(`PathSegments[${i}] must be an object with a string "token"`);
      return { token };
    }),
  };
}

/** The path in `md` under `path` (its last value, as upstream reads it); undefined when the key is absent. */
export function registryPathFromMetadata(md: Metadata): RegistryPath | undefined {
  const values = md.get(registryPathMetadataKey);
  if (values.length === 0) return undefined;
  const last = values[values.length - 1];
  return parseRegistryPath(typeof last === 'string' ? last : last!.toString());
}

/**
 * `grpcMetadata` (registry servers, first after validation; upstream registry grpcmetadata
 * server): Register and Unregister read the caller's registry path from the `path` metadata,
 * hand it to the elements below, and once they succeed send the path as they left it back in
 * the `path` response header. A call without the key goes on without a path, as upstream's
 * does (its path policies then have nothing to pass); a malformed one is refused with
 * INVALID_ARGUMENT. Find passes.
 */
export function grpcMetadata<T, Q, R>(): RegistryElement<T, Q, R> {
  const withPath = <X>(ctx: Context, call: (ctx: Context) => Observable<X>): Observable<X> =>
    defer(() => {
      const incoming = ctx.get(incomingCallKey);
      let path: RegistryPath | undefined;
      try {
        path = incoming && registryPathFromMetadata(incoming.metadata);
      } catch (e) {
        throw invalidArgument(`registry path (gRPC metadata "${registryPathMetadataKey}") ${messageOf(e)}`);
      }
      if (path === undefined) return call(ctx);
      const sent = path;
      return call(ctx.with(registryPathKey, sent)).pipe(
        map((answer) => {
          const header = new Metadata();
          header.set(registryPathMetadataKey, registryPathJson(sent));
          incoming?.sendHeaders?.(header);
          return answer;
        }),
      );
    });
  return {
    register: (item, ctx, next) => withPath(ctx, (c) => next.register(item, c)),
    unregister: (item, ctx, next) => withPath(ctx, (c) => next.unregister(item, c)),
  };
}

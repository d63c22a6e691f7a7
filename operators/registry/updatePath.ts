import { defer, type Observable } from 'rxjs';
import { map } from 'rxjs/operators';
import type { Context } from '../core/context.js';
import { invalidArgument } from '../core/errors.js';
import type { RegistryElement } from '../core/registry.js';
import { decodeJwt } from '../tools/jwt.js';
import { tokenFromMetadata, type TokenGenerator } from '../tools/token.js';
import { incomingCallKey } from '../../streams/grpc/serve.js';
import { registryPathOf, type RegistryPath } from './grpcMetadata.js';

/** The SPIFFE ID a token names (its `sub`); '' when it names none, as upstream's zero ID prints. */
export function subjectOf(token: string | undefined): string {
  if (!token) return '';
  try {
    return decodeJwt(token).claims.sub ?? '';
  } catch {
    return '';
  }
}

/**
 * Moves `path` to this hop (upstream registry updatepath): an empty path becomes [caller,
 * this hop]; otherwise the caller's segment gets the caller's current token and this hop's
 * segment (appended on a first call, replaced on a refresh) gets `own`. Returns the caller's index.
 */
function advance(path: RegistryPath, callerToken: string, own: string): number {
  if (path.pathSegments.length === 0) {
    path.pathSegments.push({ token: callerToken }, { token: own });
    path.index = 1;
    return 0;
  }
  const callerIndex = path.index;
  if (callerIndex + 1 > path.pathSegments.length) {
    throw invalidArgument(`registry path: Index+1 == ${callerIndex + 1} must be at most the number of segments (${path.pathSegments.length})`);
  }
  path.pathSegments[callerIndex]!.token = callerToken;
  path.index = callerIndex + 1;
  const mine = path.pathSegments[path.index];
  if (mine === undefined) path.pathSegments.push({ token: own });
  else mine.token = own;
  return callerIndex;
}

function withId(ids: readonly string[], index: number, id: string): string[] {
  const next = [...ids];
  if (index >= next.length) next.push(id);
  else next[index] = id;
  return next;
}

/**
 * `updatePath(token)` (registry servers, after grpcMetadata; upstream registry updatepath):
 * Register and Unregister put this hop on the registry path — the caller's token
 * (nsm-client-token) in the caller's segment, a token of ours for the caller in our own — and
 * name both in the item's `path_ids` (the caller's SPIFFE ID at our index − 1, ours at our
 * index). The elements below see the path at our index; once they succeed it is back at the
 * caller's, as the caller expects it in the answer.
 */
export function updatePath<T extends { readonly pathIds: readonly string[] }, Q, R>(options: { token: TokenGenerator }): RegistryElement<T, Q, R> {
  const onPath = <X>(item: T, ctx: Context, call: (item: T) => Observable<X>): Observable<X> =>
    defer(() => {
      const incoming = ctx.get(incomingCallKey);
      const callerToken = (incoming && tokenFromMetadata(incoming.metadata)?.token) ?? '';
      const own = options.token(incoming?.identity).token;
      const path = registryPathOf(ctx);
      const callerIndex = advance(path, callerToken, own);
      const pathIds = withId(withId(item.pathIds, path.index - 1, subjectOf(callerToken)), path.index, subjectOf(own));
      return call({ ...item, pathIds }).pipe(
        map((answer) => {
          path.index = callerIndex;
          return answer;
        }),
      );
    });
  return {
    register: (item, ctx, next) => onPath(item, ctx, (moved) => next.register(moved, ctx)),
    unregister: (item, ctx, next) => onPath(item, ctx, (moved) => next.unregister(moved, ctx)),
  };
}

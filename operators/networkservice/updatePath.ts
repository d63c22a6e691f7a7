import { randomUUID } from 'node:crypto';
import { throwError } from 'rxjs';
import { map } from 'rxjs/operators';
import type { Connection } from '../../proto/gen/connection.js';
import { invalidArgument, NsmError } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';

/**
 * Moves the path to this hop's segment (upstream updatepath), so that `Connection.id` always equals
 * the id of the current segment. Returns the index of the caller's segment.
 *
 * - no segments: this hop is the first; id = connection id or a new uuid;
 * - the current segment has our name: a refresh (or our own inner client), reuse its id;
 * - else step to the next segment: reuse it if it has our name, rename it with a new id if not,
 *   append one when past the end. The current segment's id must equal the connection id.
 */
export function advancePath(conn: Connection, name: string): number {
  conn.path ??= { index: 0, pathSegments: [] };
  const path = conn.path;
  if (path.pathSegments.length === 0) {
    path.index = 0;
    if (conn.id === '') conn.id = randomUUID();
    path.pathSegments.push({ name, id: conn.id, token: '', expires: undefined, metrics: {} });
    return 0;
  }
  const current = path.pathSegments[path.index];
  if (current?.name === name) {
    conn.id = current.id;
    return path.index;
  }
  if (current === undefined) {
    throw invalidArgument(`path.index ${path.index} is out of range for ${path.pathSegments.length} path segments`);
  }
  if (current.id !== conn.id) {
    throw invalidArgument(`path segment ${path.index} has id "${current.id}" but connection.id is "${conn.id}"`);
  }
  const callerIndex = path.index;
  const following = path.pathSegments[callerIndex + 1];
  if (following !== undefined && following.name !== name) {
    following.name = name;
    following.id = randomUUID();
  }
  path.index = callerIndex + 1;
  if (following === undefined) {
    conn.id = randomUUID();
    path.pathSegments.push({ name, id: conn.id, token: '', expires: undefined, metrics: {} });
  } else {
    conn.id = following.id;
  }
  return callerIndex;
}

/**
 * `updatePath(name)`: first element of every chain.
 *
 * ```
 * request  --r{path:[nsc], index 0}-->  next sees {path:[nsc, name], index 1, id = own segment}
 * returned <--c{index 0, id = nsc's}--  (the caller gets its own view back)
 * ```
 */
export function updatePath(name: string): NetworkServiceElement {
  return {
    request: (request, ctx, next) => {
      const conn = request.connection;
      if (conn === undefined) return throwError(() => invalidArgument('request.connection is required'));
      let callerIndex: number;
      try {
        callerIndex = advancePath(conn, name);
      } catch (e) {
        return throwError(() => (e instanceof NsmError ? e : invalidArgument(String(e))));
      }
      return next.request(request, ctx).pipe(
        map((result) => {
          const segment = result.path?.pathSegments[callerIndex];
          if (result.path && segment) {
            result.id = segment.id;
            result.path.index = callerIndex;
          }
          return result;
        }),
      );
    },
    close: (conn, ctx, next) => {
      try {
        advancePath(conn, name);
      } catch (e) {
        return throwError(() => e);
      }
      return next.close(conn, ctx);
    },
  };
}

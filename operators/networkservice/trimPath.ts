import { map } from 'rxjs/operators';
import { ContextKey } from '../core/context.js';
import type { NetworkServiceElement } from '../core/networkservice.js';

const trimKey = new ContextKey<{ trim: boolean }>('trimPath');

/**
 * `trimPathServer`: a final endpoint cuts the returned path after its own segment, dropping
 * segments left over from a longer earlier path. A passthrough hop keeps the downstream segments:
 * its client chain's `trimPathClient` says so once the downstream call has succeeded.
 *
 * ```
 * returned (no client below)  [nsc, nsmgr, fwd, nse, stale] --> [nsc, nsmgr, fwd, nse]
 * ```
 */
export function trimPathServer(): NetworkServiceElement {
  return {
    request: (request, ctx, next) => {
      const flag = { trim: true };
      return next.request(request, ctx.with(trimKey, flag)).pipe(
        map((conn) => {
          if (flag.trim && conn.path) conn.path.pathSegments = conn.path.pathSegments.slice(0, conn.path.index + 1);
          return conn;
        }),
      );
    },
  };
}

/** `trimPathClient`: marks the enclosing server hop as a passthrough whose path must be kept. */
export function trimPathClient(): NetworkServiceElement {
  return {
    request: (request, ctx, next) =>
      next.request(request, ctx).pipe(
        map((conn) => {
          const flag = ctx.get(trimKey);
          if (flag) flag.trim = false;
          return conn;
        }),
      ),
  };
}

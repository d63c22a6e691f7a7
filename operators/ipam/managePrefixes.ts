import { defer, EMPTY, of, throwError, type Observable } from 'rxjs';
import { concatMap, finalize } from 'rxjs/operators';
import { status } from '../core/status.js';
import { Type, type PrefixRequest, type PrefixResponse } from '../../proto/gen/ipam.js';
import { invalidArgument, NsmError } from '../core/errors.js';
import type { PrefixPool } from '../tools/prefixPool.js';

/**
 * `managePrefixes(pool)` (ipam-vl3, upstream vl3ipam server): one vl3 NSE's ManagePrefixes
 * stream. ALLOCATE answers with the requested prefix when all of it is free (a reconnecting NSE
 * keeps its own), else the lowest free block outside the request's excludes, and echoes the
 * excludes; DELETE gives back a prefix this stream holds. Whatever the stream still holds goes
 * back to the pool when it ends, however it ends. An empty pool: RESOURCE_EXHAUSTED naming it;
 * an UNDEFINED type or a prefix that is not a CIDR: INVALID_ARGUMENT.
 *
 * ```
 * requests   -A------A(q)----D(p)---|
 * responses  -(p)----(q)------------|     p, then q held; p given back; q given back at the end
 * ```
 */
export function managePrefixes(pool: PrefixPool): (requests: Observable<PrefixRequest>) => Observable<PrefixResponse> {
  return (requests) =>
    defer(() => {
      const held = new Set<string>();
      const allocate = (r: PrefixRequest): Observable<PrefixResponse> => {
        let prefix: string | undefined;
        try {
          prefix = pool.allocate(r.prefix, r.excludePrefixes);
        } catch (e) {
          return throwError(() => invalidArgument(`ALLOCATE: ${e instanceof Error ? e.message : String(e)}`));
        }
        if (prefix === undefined) {
          return throwError(() => new NsmError(status.RESOURCE_EXHAUSTED, `the vl3 prefix pool ${pool.prefix} has no free /${pool.blockLength} outside ${r.excludePrefixes.length} excluded prefixes (NSM_PREFIX, NSM_CLIENT_PREFIX_LEN)`));
        }
        held.add(prefix);
        return of({ prefix, excludePrefixes: r.excludePrefixes });
      };
      return requests.pipe(
        concatMap((r) => {
          if (r.type === Type.ALLOCATE) return allocate(r);
          if (r.type === Type.DELETE) {
            if (held.delete(r.prefix)) pool.release(r.prefix);
            return EMPTY;
          }
          return throwError(() => invalidArgument(`request type ${Type[r.type] ?? r.type} is undefined: ALLOCATE or DELETE`));
        }),
        finalize(() => {
          for (const prefix of held) pool.release(prefix);
          held.clear();
        }),
      );
    });
}

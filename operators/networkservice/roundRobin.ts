import { defer, Observable, throwError } from 'rxjs';
import { catchError } from 'rxjs/operators';
import { status } from '../core/status.js';
import type { Connection } from '../../proto/gen/connection.js';
import type { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { cloneRequest } from '../core/clone.js';
import type { Context } from '../core/context.js';
import { internal, messageOf, notFound, NsmError, statusOf } from '../core/errors.js';
import type { NetworkServiceElement, NetworkServiceHandler } from '../core/networkservice.js';
import { clientUrlKey, clientUrlOf } from './clientUrl.js';
import { candidatesOf, endpointUrl, type Candidates } from './discover.js';

/** `roundRobin` with its per-service counters exposed (introspection, tests). */
export interface RoundRobinElement extends NetworkServiceElement {
  /** Network service name → how many selections were made for it so far. */
  readonly counters: ReadonlyMap<string, number>;
}

/**
 * `roundRobin` (server side, after `discover`): spreads connections over the candidates. Each
 * network service has a counter shared by all Requests; a Request makes up to n tries (n
 * candidates), and every try reads the counter afresh, takes candidate `counter mod n` and
 * advances the counter (upstream), so concurrent Requests interleave and one of them may try a
 * candidate twice. Each try has that endpoint's URL in the context and its name in
 * `network_service_endpoint_name`, on a copy of the request; the first success wins. All tries
 * failed → the last failure's code, every failure listed. A candidate whose URL cannot be parsed
 * ends the Request at once with that error (upstream returns "failed to parse url").
 * Skipped when a client URL is already in the context (discover resolved a named endpoint).
 *
 * ```
 * candidates [a, b, c], counter 1
 * request ─R─▶ b ✗ ─▶ c ✓ ──▶ conn (nse name c), counter 3
 * request ─R─▶ a ✓ ──▶ conn (nse name a), counter 4
 * ```
 */
export function roundRobin(): RoundRobinElement {
  const counters = new Map<string, number>();

  const attempt = (
    request: NetworkServiceRequest,
    ctx: Context,
    next: NetworkServiceHandler,
    candidates: Candidates,
    i: number,
    failures: string[],
    lastCode: status,
  ): Observable<Connection> =>
    defer(() => {
      const n = candidates.endpoints.length;
      if (i >= n) {
        return throwError(
          () => new NsmError(lastCode, `all ${n} candidates for network service ${JSON.stringify(candidates.networkService.name)} have failed: ${failures.join('; ')}`),
        );
      }
      const name = candidates.networkService.name;
      const counter = counters.get(name) ?? 0;
      counters.set(name, counter + 1);
      const endpoint = candidates.endpoints[counter % n] as (typeof candidates.endpoints)[number];
      const url = endpointUrl(endpoint);
      (request.connection as Connection).networkServiceEndpointName = endpoint.name;
      return next
        .request(cloneRequest(request), ctx.with(clientUrlKey, url))
        .pipe(catchError((e: unknown) => attempt(request, ctx, next, candidates, i + 1, [...failures, `${i}. ${endpoint.name}: ${messageOf(e)}`], statusOf(e))));
    });

  return {
    counters,
    request: (request, ctx, next) =>
      defer(() => {
        if (clientUrlOf(ctx) !== undefined) return next.request(request, ctx);
        const candidates = candidatesOf(ctx);
        if (candidates === undefined) return throwError(() => internal('roundRobin: no candidates in the context (discover must run before it)'));
        if (candidates.endpoints.length === 0) {
          return throwError(() => notFound(`no candidates for network service ${JSON.stringify(candidates.networkService.name)}`));
        }
        return attempt(request, ctx, next, candidates, 0, [], status.UNAVAILABLE);
      }),
  };
}

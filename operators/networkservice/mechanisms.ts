import { defer, Observable, throwError } from 'rxjs';
import { catchError } from 'rxjs/operators';
import type { Connection, Mechanism } from '../../proto/gen/connection.js';
import type { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { cloneRequest } from '../core/clone.js';
import type { Context } from '../core/context.js';
import { status } from '../core/status.js';
import { messageOf, NsmError, statusOf, unimplemented } from '../core/errors.js';
import { chain, type NetworkServiceElement, type NetworkServiceHandler } from '../core/networkservice.js';

/**
 * `mechanisms({KERNEL: …, VXLAN: …})` (server side): picks how this hop attaches. A connection
 * that already has a mechanism goes to that type's elements only; otherwise the client's
 * preferences are tried in order and the first that succeeds wins. Types are compared exactly,
 * as upstream does. Nothing supported → UNIMPLEMENTED naming what was offered; every supported
 * one failed → the last failure's code, listing each failure.
 */
export function mechanisms(byType: Readonly<Record<string, readonly NetworkServiceElement[]>>): NetworkServiceElement {
  const handlerFor = (next: NetworkServiceHandler, type: string): NetworkServiceHandler | undefined => {
    const elements = byType[type];
    return elements ? chain(elements, next) : undefined;
  };
  const supported = Object.keys(byType).join(', ');

  const tryPreferences = (
    request: NetworkServiceRequest,
    ctx: Context,
    next: NetworkServiceHandler,
    preferences: Mechanism[],
    failures: string[],
    lastCode: status = status.UNAVAILABLE,
  ): Observable<Connection> =>
    defer(() => {
      const [preference, ...rest] = preferences;
      if (preference === undefined) {
        const offered = request.mechanismPreferences.map((m) => m.type || '(empty)').join(', ') || 'none';
        return throwError(() =>
          failures.length > 0
            ? new NsmError(lastCode, `all mechanism preferences failed: ${failures.join('; ')}`)
            : unimplemented(`no supported mechanism: offered [${offered}], supported [${supported}]`),
        );
      }
      const handler = handlerFor(next, preference.type);
      if (handler === undefined) return tryPreferences(request, ctx, next, rest, failures);
      // Each try gets its own copy (upstream request.Clone()): a failed try must not leave its
      // edits (mechanism parameters, context, labels) on the next one or on the caller's request.
      const attempt = cloneRequest(request);
      (attempt.connection as Connection).mechanism = { ...preference, parameters: { ...preference.parameters } };
      return handler.request(attempt, ctx).pipe(
        catchError((e: unknown) => tryPreferences(request, ctx, next, rest, [...failures, `${preference.type}: ${messageOf(e)}`], statusOf(e))),
      );
    });

  return {
    request: (request, ctx, next) => {
      const chosen = request.connection?.mechanism;
      if (chosen !== undefined) {
        const handler = handlerFor(next, chosen.type);
        if (handler === undefined) return throwError(() => unimplemented(`mechanism type "${chosen.type}" is not supported (supported: ${supported})`));
        return handler.request(request, ctx);
      }
      return tryPreferences(request, ctx, next, request.mechanismPreferences, []);
    },
    close: (conn, ctx, next) => (handlerFor(next, conn.mechanism?.type ?? '') ?? next).close(conn, ctx),
  };
}

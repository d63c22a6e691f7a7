import { concat, defer, EMPTY, of, throwError } from 'rxjs';
import { catchError, concatMap, ignoreElements, map } from 'rxjs/operators';
import type { Connection, Mechanism } from '../../proto/gen/connection.js';
import type { Datapath } from '../../dataplane/datapath.js';
import { cloneConnection } from '../core/clone.js';
import { ContextKey } from '../core/context.js';
import { unimplemented } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { clientUrlOf } from './clientUrl.js';
import { metadataOf } from './metadata.js';

/** The next hop is reached over a socket on this node (LOCAL mechanisms) or over the network. */
const isRemote = (scheme: string | undefined): boolean => scheme !== 'unix' && scheme !== 'inode';

/**
 * `crossConnect(datapath)` (forwarder, after discover/roundRobin, before connect): joins the
 * previous hop's side and the next hop's side of a connection in the datapath. It picks the
 * incoming mechanism from the previous hop's preferences (keeping it on refresh), hides it from
 * the next hop and offers the datapath's own (LOCAL toward unix/inode URLs, REMOTE otherwise;
 * upstream mechanismtranslation + filtermechanisms), and once the next hop answered programs
 * the cross-connect and answers with the incoming mechanism. Close unprograms after the next hop
 * closed. A failed program closes the next hop's side again.
 *
 * ```
 * request  prefs[KERNEL] ──▶ next sees prefs[VXLAN] ──▶ answer {VXLAN} ──program──▶ caller gets {KERNEL}
 * ```
 */
export function crossConnect(datapath: Datapath): NetworkServiceElement {
  const outgoingKey = new ContextKey<Mechanism | undefined>('crossConnect.outgoing');
  return {
    request: (request, ctx, next) =>
      defer(() => {
        const conn = request.connection as Connection;
        const kept = conn.mechanism && datapath.incomingMechanisms([conn.mechanism])[0];
        const incoming = kept ?? datapath.incomingMechanisms(request.mechanismPreferences)[0];
        if (incoming === undefined) {
          const offered = request.mechanismPreferences.map((m) => m.type).join(', ') || 'none';
          return throwError(() => unimplemented(`forwarder datapath ${datapath.name} cannot attach any offered mechanism (offered: ${offered})`));
        }
        const meta = metadataOf(ctx);
        const outgoing = {
          connection: { ...cloneConnection(conn), mechanism: meta.get(outgoingKey) },
          mechanismPreferences: datapath.outgoingPreferences(isRemote(clientUrlOf(ctx)?.scheme), conn),
        };
        return next.request(outgoing, ctx).pipe(
          concatMap((answer) => {
            const x = { incoming: { ...cloneConnection(answer), mechanism: incoming }, outgoing: answer };
            const undo = defer(() => next.close(answer, ctx.withoutDeadline())).pipe(ignoreElements(), catchError(() => EMPTY));
            return datapath.program(x).pipe(
              map((programmed) => {
                meta.set(outgoingKey, answer.mechanism);
                return { ...answer, mechanism: programmed };
              }),
              catchError((e: unknown) => concat(undo, throwError(() => e))),
            );
          }),
        );
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        const meta = metadataOf(ctx);
        const outgoing = { ...conn, mechanism: meta.get(outgoingKey) };
        // The datapath is cleaned up even when the next hop cannot be told; its error still counts.
        let failure: unknown;
        return concat(
          next.close(outgoing, ctx).pipe(
            ignoreElements(),
            catchError((e: unknown) => {
              failure = e;
              return EMPTY;
            }),
          ),
          datapath.unprogram({ incoming: conn, outgoing }).pipe(ignoreElements()),
          defer(() => (failure === undefined ? of(undefined) : throwError(() => failure))),
        );
      }),
  };
}

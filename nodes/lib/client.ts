import { asyncScheduler, concat, defer, EMPTY, lastValueFrom, Subject, type Observable } from 'rxjs';
import { concatMap, distinctUntilChanged, filter, finalize, mergeMap, takeUntil } from 'rxjs/operators';
import { from } from 'ix/Ix.asynciterable';
import { ConnectionEventType, type Connection, type ConnectionEvent } from '../../proto/gen/connection.js';
import { client as clientChain } from '../../operators/chains/client.js';
import { Context } from '../../operators/core/context.js';
import type { NetworkServiceHandler } from '../../operators/core/networkservice.js';
import { heal } from '../../operators/networkservice/heal.js';
import { leavableRequest } from '../../operators/networkservice/leavableRequest.js';
import { retryClient } from '../../operators/networkservice/retry.js';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import { parseNsUrl } from '../../operators/tools/nsurl.js';
import { inodeUrlOfFile } from '../../dataplane/kernel/netns.js';
import { nsmgrMonitor } from '../connections/monitor.js';
import { requestFor } from '../nsc/request.js';
import { embedded, type LogOptions } from './embedded.js';
import { security, type IdentityOptions } from './identity.js';

export interface ConnectOptions extends IdentityOptions, LogOptions {
  /** The nsmgr, e.g. `unix:///var/lib/networkservicemesh/nsm.io.sock` or `tcp://10.0.0.1:5001`. */
  readonly connectTo: string;
  /** The client's name: its path segment, and its connections' ids (`<name>-<i>`). Default nsc. */
  readonly name?: string;
  /** Budget of each try of a Request, ms (default 15 s); tries go on until one succeeds. */
  readonly requestTimeout?: number;
}

/** A client of one nsmgr. */
export interface NsmClient {
  /**
   * Requests a network service named as NSM_NETWORK_SERVICES names one (`kernel://icmp-responder/nsm-1`,
   * `kernel://ns@domain/nsm-1?app=x`), trying until it succeeds, and keeps the connection
   * (refresh, heal). Emits the connection, then each change the nsmgr reports of it (a heal's
   * new path, DOWN and UP again); unsubscribing Closes it — one still being requested as soon as
   * the try in flight has ended (the hops may finish it anyway), without trying again.
   */
  request(service: string): Observable<Connection>;
  /** Every connection event of the nsmgr (MonitorConnections: the initial state, then updates and deletes). */
  monitor(): Observable<ConnectionEvent>;
  /** The same events, pulled: `for await (const event of client.events())`; leaving the loop ends the watch. */
  events(): AsyncIterable<ConnectionEvent>;
  /** Closes every connection still requested (or being requested, or left mid-Request) and releases the client. */
  close(): Promise<void>;
}

/** Whether two reports of a connection differ in what a caller acts on: state or path. */
const sameReport = (a: Connection, b: Connection) => a.state === b.state && (a.path?.pathSegments.map((s) => s.name).join() ?? '') === (b.path?.pathSegments.map((s) => s.name).join() ?? '');

/**
 * A client of the nsmgr at `connectTo`, with upstream cmd-nsc's chain (refresh, heal), without
 * its CLI: requests are Observables, monitor events an Observable or an async iterable.
 */
export async function connect(options: ConnectOptions): Promise<NsmClient> {
  const name = options.name ?? 'nsc';
  const url = parseNsmUrl(options.connectTo); // bad input fails before anything is started
  const ctx = embedded(name, options);
  const secure = await security(name, options, ctx);
  const pool = secure.pool();
  const scheduler = asyncScheduler;
  const chain = clientChain({ name, pool, url, token: secure.token, inodeUrlOf: inodeUrlOfFile, refresh: true, heal: heal({ scheduler, logger: ctx.log }), scheduler });
  const retrying = (tries: NetworkServiceHandler) => retryClient(tries, { scheduler, tryTimeout: options.requestTimeout ?? 15_000 });
  const handler = retrying(chain.handler);
  const open = new Set<Promise<void>>();
  const closed = new Subject<void>();
  let made = 0;

  const monitor = (): Observable<ConnectionEvent> => nsmgrMonitor(pool)(options.connectTo);

  const request = (service: string): Observable<Connection> =>
    defer(() => {
      const fresh = requestFor(name, made++, parseNsUrl(service));
      const id = fresh.connection?.id ?? '';
      // Left mid-Request, the try in flight still ends and what it made is Closed: the hops may
      // finish a Request whoever cancels it (see leavableRequest).
      const first = leavableRequest(chain.handler, retrying, fresh, Context.background);
      const updates = monitor().pipe(
        mergeMap((e) => (e.type === ConnectionEventType.DELETE ? EMPTY : Object.values(e.connections))),
        filter((c) => c.path?.pathSegments[0]?.id === id),
      );
      return concat(first.answer, updates).pipe(
        distinctUntilChanged(sameReport),
        takeUntil(closed),
        finalize(() => {
          // What is closed is the Request's answer (the client chain's begin keeps it current across
          // refreshes and heals); the nsmgr's reports are its view of the connection, not the client's.
          const closing = lastValueFrom(first.leave().pipe(concatMap((requested) => handler.close(requested, Context.background.withDeadline(scheduler.now() + 15_000)))), {
            defaultValue: undefined,
          })
            .catch((e: unknown) => ctx.log.warn('close failed', { id, error: String(e) }))
            .finally(() => open.delete(closing));
          open.add(closing);
        }),
      );
    });

  return {
    request,
    monitor,
    events: () => from(monitor()),
    close: async () => {
      closed.next(); // ends every request still subscribed: each Closes its connection
      await Promise.all([...open]);
      chain.state.metadata.dispose();
      pool.closeAll();
      secure.stop();
      await ctx.lifecycle.shutdown('closed');
      ctx.lifecycle.dispose();
    },
  };
}

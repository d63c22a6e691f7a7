import { lastValueFrom, Observable, type Subscription } from 'rxjs';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import type { Connection } from '../../proto/gen/connection.js';
import { Context } from '../../operators/core/context.js';
import { messageOf } from '../../operators/core/errors.js';
import type { NetworkServiceHandler } from '../../operators/core/networkservice.js';
import { forEachEntry } from '../../operators/tools/forEachEntry.js';
import type { Logger } from '../../operators/tools/log.js';
import { samePeer, type Vl3Peer } from '../../streams/vl3Peers.js';

/** What a connection to another vl3 NSE asks for (upstream cmd-nse-vl3's request to each NSE). */
export interface PeerRequest {
  readonly self: string;
  readonly networkService: string;
  readonly labels: Readonly<Record<string, string>>;
  /** This NSE's netns, where the forwarder puts its end of the connection. */
  readonly netnsUrl: string;
}

/** The Request to `peer`: a stable id per pair, so an NSE restarted with its name takes its connection over. */
export function peerRequest(peer: Vl3Peer, r: PeerRequest): NetworkServiceRequest {
  return NetworkServiceRequest.fromPartial({
    connection: { id: `${r.self}-${peer.name}`, networkService: r.networkService, networkServiceEndpointName: peer.name, payload: 'IP', labels: { ...r.labels } },
    mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { inodeURL: r.netnsUrl } }],
  });
}

/**
 * Keeps a connection to every peer of `peers$` through `client` (which retries until the peer
 * answers and refreshes after), closing it when the peer leaves the view or restarts; `stop`
 * ends it all and resolves when every Close has returned (or failed, which is logged).
 */
export function connectToPeers(
  peers$: Observable<ReadonlyMap<string, Vl3Peer>>,
  client: NetworkServiceHandler,
  request: (peer: Vl3Peer) => NetworkServiceRequest,
  options: { readonly closeTimeout: number; readonly log: Logger; readonly now: () => number },
): { stop(): Promise<void> } {
  const closing = new Set<Promise<void>>();
  const close = (conn: Connection) => {
    const done = lastValueFrom(client.close(conn, Context.background.withDeadline(options.now() + options.closeTimeout)), { defaultValue: undefined })
      .then(() => options.log.info('vl3 peer connection closed', { peer: conn.networkServiceEndpointName, id: conn.id }))
      .catch((e: unknown) => options.log.warn('vl3 peer connection close failed', { peer: conn.networkServiceEndpointName, error: messageOf(e) }))
      .finally(() => closing.delete(done));
    closing.add(done);
  };
  const hold = (peer: Vl3Peer) =>
    new Observable<never>(() => {
      let held: Connection | undefined;
      const requested: Subscription = client.request(request(peer), Context.background).subscribe({
        next: (conn) => {
          held = conn;
          options.log.info('vl3 peer connected', { peer: peer.name, id: conn.id });
        },
        error: (e: unknown) => options.log.error('vl3 peer connection failed', { peer: peer.name, error: messageOf(e) }),
      });
      return () => {
        requested.unsubscribe();
        if (held) close(held);
      };
    });
  const running = peers$.pipe(forEachEntry((_, peer) => hold(peer), samePeer)).subscribe({
    error: (e: unknown) => options.log.error('vl3 peers: the registry view failed', { error: messageOf(e) }),
  });
  return {
    stop: async () => {
      running.unsubscribe();
      await Promise.all([...closing]);
    },
  };
}

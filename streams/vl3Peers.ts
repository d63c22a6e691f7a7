import type { Observable } from 'rxjs';
import { distinctUntilChanged, map } from 'rxjs/operators';
import type { Timestamp } from '../proto/gen/google/protobuf/timestamp.js';
import { NetworkServiceEndpoint } from '../proto/gen/registry.js';
import { Context } from '../operators/core/context.js';
import type { NSEHandler } from '../operators/core/registry.js';
import { liveFind, type Found, type LiveFindOptions } from './liveFind.js';

/** Another vl3 NSE to connect to: what a connection to it depends on. */
export interface Vl3Peer {
  readonly name: string;
  readonly url: string;
  /** When it first registered (ms): a restarted peer registers anew. */
  readonly since: number;
}

const ms = (t: Timestamp | undefined): number => (t ? Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6) : 0);

/** The earlier of a pair (by first registration, then by name) is the one connected to. */
const before = (a: Vl3Peer, b: Vl3Peer): boolean => a.since < b.since || (a.since === b.since && a.name < b.name);

export const samePeer = (a: Vl3Peer, b: Vl3Peer): boolean => a.name === b.name && a.url === b.url && a.since === b.since;

/**
 * The vl3 NSEs `self` connects to, as a live view (upstream cmd-nse-vl3: the NSEs of its
 * service registered before it; the later NSE of each pair connects, so the network is a full
 * mesh with one connection a pair). Read from a Find watch of the service's NSEs through the
 * NSE's own nsmgr (liveFind: reconnecting, whole views after a break): a peer that appears later
 * connects to this one itself; one that is unregistered or expires leaves the view; one that
 * restarts registers anew, later than `self`, and so connects to it instead. Empty until `self`
 * is in the view.
 *
 * ```
 * registry   -s--a--b(restart)-
 * peers      -{}-{a}--{}--        (s registered after a, before the restarted b)
 * ```
 */
export function vl3Peers(find: NSEHandler['find'], serviceNames: readonly string[], self: string, options: LiveFindOptions = {}): Observable<ReadonlyMap<string, Vl3Peer>> {
  const query = NetworkServiceEndpoint.fromPartial({ networkServiceNames: [...serviceNames] });
  return liveFind(
    find,
    (watch) => ({ networkServiceEndpoint: query, watch }),
    (r): Found<NetworkServiceEndpoint> | undefined => r.networkServiceEndpoint && { item: r.networkServiceEndpoint, deleted: r.deleted },
    Context.background,
    options,
  ).pipe(
    map((view) => {
      const peerOf = (nse: NetworkServiceEndpoint): Vl3Peer => ({ name: nse.name, url: nse.url, since: ms(nse.initialRegistrationTime) });
      const own = view.get(self);
      const peers = new Map<string, Vl3Peer>();
      if (own === undefined) return peers;
      for (const nse of view.values()) if (nse.name !== self && before(peerOf(nse), peerOf(own))) peers.set(nse.name, peerOf(nse));
      return peers;
    }),
    distinctUntilChanged((a, b) => a.size === b.size && [...a].every(([name, peer]) => { const other = b.get(name); return other !== undefined && samePeer(peer, other); })),
  );
}

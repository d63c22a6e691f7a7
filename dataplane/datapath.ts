import type { Observable } from 'rxjs';
import type { Connection, Mechanism } from '../proto/gen/connection.js';

/**
 * Data-plane liveness of a connection (the kernel datapath plugs in a ping from the client's
 * netns; the client's heal runs it). The first value counts; no value within the liveness
 * timeout, an error or an empty completion all count as dead. Unsubscribing must stop the check.
 */
export type LivenessCheck = (conn: Connection) => Observable<boolean>;

/** The two sides a forwarder joins for one connection. */
export interface CrossConnect {
  /** The connection as the previous hop sees it (its mechanism: how the client side attaches). */
  readonly incoming: Connection;
  /** The connection as the next hop returned it (its mechanism: how the next hop attaches). */
  readonly outgoing: Connection;
}

/**
 * What a forwarder needs from a datapath, behind one interface so the control plane does not
 * care whether it programs nothing (sandbox), the Linux kernel, OVS or VPP.
 *
 * - `incomingMechanisms(preferences)`: of the previous hop's preferences, the ones this datapath
 *   can attach, in preference order (the first that works is used);
 * - `outgoingPreferences(remote, connection)`: what to offer the next hop (LOCAL mechanisms
 *   toward a unix or inode URL, REMOTE ones otherwise), e.g. with the interface name for it;
 * - `program(x)`: make (or, on refresh, update) the cross-connect; idempotent; answers the
 *   incoming mechanism as programmed (a datapath may fill parameters: a tunnel's VNI, its IP);
 * - `unprogram(x)`: remove everything `program` made for this connection.
 */
export interface Datapath {
  readonly name: string;
  incomingMechanisms(preferences: readonly Mechanism[]): Mechanism[];
  outgoingPreferences(remote: boolean, connection: Connection): Mechanism[];
  program(x: CrossConnect): Observable<Mechanism>;
  unprogram(x: CrossConnect): Observable<void>;
  /**
   * Interface counters of a programmed connection as path-segment metrics, in upstream's keys
   * (`server_*` for the interface toward the previous hop, `client_*` toward the next one): the
   * latest sample at once, then a new one on the datapath's interval while anyone reads (one
   * sampler per interface, however many read); completes when the connection is unprogrammed.
   */
  metrics?(connectionId: string): Observable<Record<string, string>>;
  /** Ends what the datapath runs in the background (helper processes); what it programmed stays. */
  dispose?(): void;
}

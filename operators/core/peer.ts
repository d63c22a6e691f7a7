import type { KeyObject } from 'node:crypto';

/** What mutual TLS proved about the other side of a call: its SPIFFE ID and certificate key. */
export interface PeerIdentity {
  readonly id: string;
  /** The key of its certificate: its tokens must verify with it. */
  readonly publicKey: KeyObject;
}

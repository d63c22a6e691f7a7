import { generateKeyPairSync } from 'node:crypto';
import type { PeerIdentity } from '../operators/core/peer.js';
import { signEs256 } from '../operators/tools/jwt.js';

/** A hop of a registry path for policy tests: its SPIFFE ID, its TLS identity, and ES256 tokens it signs. */
export interface TestHop {
  readonly id: string;
  readonly peer: PeerIdentity;
  /** A token of this hop for `audience`, expiring at `expiresMs` (default: in an hour). */
  token(audience: TestHop | undefined, expiresMs?: number): string;
}

export function testHop(name: string): TestHop {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const id = `spiffe://td/${name}`;
  return {
    id,
    peer: { id, publicKey },
    token: (audience, expiresMs = 3_600_000) => signEs256({ sub: id, ...(audience ? { aud: [audience.id] } : {}), exp: Math.floor(expiresMs / 1000) }, privateKey),
  };
}

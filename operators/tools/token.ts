import { Metadata } from '../core/callMetadata.js';
import type { PeerIdentity } from '../core/peer.js';

/** A hop's token for one call and when it expires (scheduler ms). */
export interface Token {
  readonly token: string;
  readonly expires: number;
}

/**
 * Makes this hop's token for a peer (upstream token.GeneratorFunc): `peer` is the other side of
 * the call as mutual TLS proved it (undefined on plaintext): it becomes the audience.
 */
export type TokenGenerator = (peer?: PeerIdentity) => Token;

/** gRPC metadata keys a caller's token travels in (upstream per-RPC credentials). */
export const tokenMetadataKey = 'nsm-client-token';
export const tokenExpiresMetadataKey = 'nsm-client-token-expires';

/**
 * An unsigned JWT (`alg: none`) naming this hop, valid for `lifetimeMs`: enough for expiry,
 * refresh and timeout to work where no identity is configured (NSM_INSECURE and tests).
 */
export function unsignedTokenGenerator(subject: string, lifetimeMs: number, now: () => number): TokenGenerator {
  const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
  return (peer) => {
    const expires = now() + lifetimeMs;
    const claims = { sub: subject, ...(peer ? { aud: [peer.id] } : {}), exp: Math.floor(expires / 1000) };
    return { token: `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`, expires };
  };
}

/** Writes a token into outgoing call metadata, expiry as RFC 3339 (Go reads it with RFC3339Nano). */
export function tokenMetadata(token: Token): Metadata {
  const md = new Metadata();
  md.set(tokenMetadataKey, token.token);
  md.set(tokenExpiresMetadataKey, new Date(token.expires).toISOString());
  return md;
}

/** Reads a caller's token from incoming metadata; undefined when absent or malformed. */
export function tokenFromMetadata(md: Metadata): Token | undefined {
  const [token] = md.get(tokenMetadataKey);
  const [expires] = md.get(tokenExpiresMetadataKey);
  if (typeof token !== 'string' || typeof expires !== 'string') return undefined;
  const ms = Date.parse(expires);
  return Number.isNaN(ms) ? undefined : { token, expires: ms };
}

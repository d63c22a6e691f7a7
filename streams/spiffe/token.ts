import type { Token, TokenGenerator } from '../../operators/tools/token.js';
import { signEs256 } from '../../operators/tools/jwt.js';
import type { X509Source } from './svid.js';

/**
 * Path tokens signed with this workload's SVID key (upstream spiffejwt.TokenGeneratorFunc):
 * ES256, `sub` = own SPIFFE ID, `aud` = the peer's SPIFFE ID, `exp` = the earlier of now +
 * `maxLifetimeMs` and our certificate's expiry. Unlike upstream, the peer certificate's expiry
 * does not cap it: that is the certificate of the connection's handshake, which a long-lived
 * connection keeps while the peer rotates — tokens would shrink towards it and hops would time
 * out healthy connections.
 */
export function spiffeTokenGenerator(source: X509Source, maxLifetimeMs: number, now: () => number): TokenGenerator {
  return (peer): Token => {
    const { svid } = source.current;
    const expires = Math.min(now() + maxLifetimeMs, svid.notAfter);
    const token = signEs256({ sub: svid.id.href, ...(peer ? { aud: [peer.id] } : {}), exp: Math.floor(expires / 1000) }, svid.key);
    return { token, expires };
  };
}

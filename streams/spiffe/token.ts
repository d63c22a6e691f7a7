import type { Token, TokenGenerator } from '../../operators/tools/token.js';
import { signEs256 } from '../../operators/tools/jwt.js';
import type { X509Source } from './svid.js';

/**
 * Path tokens signed with this workload's SVID key (upstream spiffejwt.TokenGeneratorFunc):
 * ES256, `sub` = own SPIFFE ID, `aud` = the peer's SPIFFE ID, `exp` = the earliest of now +
 * `maxLifetimeMs`, our certificate's and the peer certificate's expiry.
 */
export function spiffeTokenGenerator(source: X509Source, maxLifetimeMs: number, now: () => number): TokenGenerator {
  return (peer): Token => {
    const { svid } = source.current;
    const expires = Math.min(now() + maxLifetimeMs, svid.notAfter, peer?.notAfter ?? Infinity);
    const token = signEs256({ sub: svid.id.href, ...(peer ? { aud: [peer.id] } : {}), exp: Math.floor(expires / 1000) }, svid.key);
    return { token, expires };
  };
}

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
  // A token is reused for the same audience for 1% of its lifetime (at most a second): every
  // call carries one, and an ES256 signature per call is most of what security costs a hop.
  const reuseMs = Math.min(1000, maxLifetimeMs / 100);
  const recent = new Map<string, { readonly token: Token; readonly at: number; readonly svid: unknown }>();
  return (peer): Token => {
    const { svid } = source.current;
    const at = now();
    const audience = peer?.id ?? '';
    const kept = recent.get(audience);
    if (kept && kept.svid === svid && at - kept.at >= 0 && at - kept.at < reuseMs) return kept.token;
    const expires = Math.min(at + maxLifetimeMs, svid.notAfter);
    const token = { token: signEs256({ sub: svid.id.href, ...(peer ? { aud: [peer.id] } : {}), exp: Math.floor(expires / 1000) }, svid.key), expires };
    if (recent.size > 1024) recent.clear();
    recent.set(audience, { token, at, svid });
    return token;
  };
}

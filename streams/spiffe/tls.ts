import { X509Certificate } from 'node:crypto';
import { createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import type { PeerIdentity } from '../../operators/core/peer.js';
import { RecentlyUsed } from '../../operators/tools/recentlyUsed.js';
import { bundlesPem, chainPem, keyPem, spiffeIdOf, type X509Context } from './svid.js';

// Keyed by certificate fingerprint: a peer's certificate changes only when it rotates, so the
// recent ones are the live ones. null: a certificate without a SPIFFE ID.
const peers = new RecentlyUsed<string, PeerIdentity | null>(256);

/** The identity in a peer certificate as Node's TLS reports it; cached by fingerprint. */
export function peerIdentityOf(cert: PeerCertificate | undefined): PeerIdentity | undefined {
  if (cert?.raw === undefined) return undefined;
  const key = cert.fingerprint256;
  const known = peers.get(key);
  if (known !== undefined) return known ?? undefined;
  const x509 = new X509Certificate(cert.raw);
  const id = spiffeIdOf(x509);
  const identity = id ? { id: id.href, publicKey: x509.publicKey } : null;
  peers.set(key, identity);
  return identity ?? undefined;
}

/** One TLS context per X.509 context (SVID and bundles), shared by every client connection: building one costs about a millisecond. */
const secureContexts = new WeakMap<X509Context, SecureContext>();

/** The TLS context of `ctx`, built on first use. */
export function secureContextOf(ctx: X509Context): SecureContext {
  let made = secureContexts.get(ctx);
  if (made === undefined) secureContexts.set(ctx, (made = createSecureContext({ ca: bundlesPem(ctx), cert: chainPem(ctx.svid), key: keyPem(ctx.svid) })));
  return made;
}

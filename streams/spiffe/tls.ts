import { X509Certificate } from 'node:crypto';
import { createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import { CallCredentials, ChannelCredentials, experimental, type ChannelOptions, type VerifyOptions } from '@grpc/grpc-js';
import { firstValueFrom } from 'rxjs';
import type { PeerIdentity } from '../../operators/core/peer.js';
import { RecentlyUsed } from '../../operators/tools/recentlyUsed.js';
import { bundlesPem, chainPem, keyPem, spiffeIdOf, type X509Context, type X509Source } from './svid.js';

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

/** One TLS context per X.509 context (SVID and bundles), shared by every channel: building one costs about a millisecond. */
const secureContexts = new WeakMap<X509Context, SecureContext>();

/** The TLS context of `ctx`, built on first use. */
export function secureContextOf(ctx: X509Context): SecureContext {
  let made = secureContexts.get(ctx);
  if (made === undefined) secureContexts.set(ctx, (made = createSecureContext({ ca: bundlesPem(ctx), cert: chainPem(ctx.svid), key: keyPem(ctx.svid) })));
  return made;
}

/**
 * Channel credentials over an X509Source: each connection (a first one, or a reconnect) is made
 * with the source's current SVID and bundles, so a rotation reaches new connections without a
 * restart. grpc-js's certificate-provider credentials do the same but build a new TLS context
 * twice per connection attempt (a millisecond each, on every dial and every redial of a dead
 * peer); here one context per SVID serves every connection.
 */
class SourceChannelCredentials extends ChannelCredentials {
  constructor(
    private readonly source: X509Source,
    private readonly verify: VerifyOptions,
  ) {
    super();
  }

  _isSecure(): boolean {
    return true;
  }

  _equals(other: ChannelCredentials): boolean {
    return other === this;
  }

  _createSecureConnector(target: experimental.GrpcUri, options: ChannelOptions, callCredentials = CallCredentials.createEmpty()): experimental.SecureConnector {
    return {
      connect: (socket) => ChannelCredentials.createFromSecureContext(secureContextOf(this.source.current), this.verify)._createSecureConnector(target, options, callCredentials).connect(socket),
      waitForReady: async () => {
        await firstValueFrom(this.source.updates);
      },
      getCallCredentials: () => callCredentials,
      destroy: () => undefined,
    };
  }
}

/**
 * mTLS channel credentials: our SVID as client certificate, the server verified against the
 * bundles and required to carry a SPIFFE ID (any ID: authorization is the policies' job, as
 * upstream's tlsconfig.AuthorizeAny). `onPeer` learns the server's identity at each handshake.
 */
export function spiffeChannelCredentials(source: X509Source, onPeer: (peer: PeerIdentity) => void = () => undefined): ChannelCredentials {
  return new SourceChannelCredentials(source, {
    checkServerIdentity: (_host, cert) => {
      const peer = peerIdentityOf(cert);
      if (peer === undefined) return new Error(`the server certificate (${cert.subject?.CN ?? 'no CN'}) carries no SPIFFE ID`);
      onPeer(peer);
      return undefined;
    },
  });
}

import { X509Certificate } from 'node:crypto';
import { createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import { CallCredentials, ChannelCredentials, experimental, type ChannelOptions, type ServerCredentials, type VerifyOptions } from '@grpc/grpc-js';

type CertificateProvider = experimental.CertificateProvider;
type CaCertificateUpdateListener = experimental.CaCertificateUpdateListener;
type IdentityCertificateUpdateListener = experimental.IdentityCertificateUpdateListener;
import { asapScheduler, firstValueFrom, observeOn, type Subscription } from 'rxjs';
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

/**
 * grpc-js certificate provider fed by an X509Source: the trust bundles as CA certificates, the
 * SVID as identity. Every rotation reaches grpc-js, which uses it for new connections — no
 * restart.
 */
class SourceCertificateProvider implements CertificateProvider {
  private readonly caListeners = new Set<CaCertificateUpdateListener>();
  private readonly identityListeners = new Set<IdentityCertificateUpdateListener>();
  private subscription: Subscription | undefined;

  constructor(private readonly source: X509Source) {}

  private watch(): void {
    if (this.subscription) return;
    // Delivered asynchronously: grpc-js registers its watcher only after adding the listener,
    // so a synchronous first update would be lost (and the server would drop every connection).
    this.subscription = this.source.updates.pipe(observeOn(asapScheduler)).subscribe((ctx) => {
      const ca = { caCertificate: Buffer.from(bundlesPem(ctx)) };
      const identity = { certificate: Buffer.from(chainPem(ctx.svid)), privateKey: Buffer.from(keyPem(ctx.svid)) };
      for (const l of this.caListeners) l(ca);
      for (const l of this.identityListeners) l(identity);
    });
  }

  private unwatch(): void {
    if (this.caListeners.size + this.identityListeners.size > 0) return;
    this.subscription?.unsubscribe();
    this.subscription = undefined;
  }

  addCaCertificateListener(l: CaCertificateUpdateListener): void {
    this.caListeners.add(l);
    this.replay();
  }
  removeCaCertificateListener(l: CaCertificateUpdateListener): void {
    this.caListeners.delete(l);
    this.unwatch();
  }
  addIdentityCertificateListener(l: IdentityCertificateUpdateListener): void {
    this.identityListeners.add(l);
    this.replay();
  }
  removeIdentityCertificateListener(l: IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(l);
    this.unwatch();
  }

  /** A new listener gets the current certificates at once (re-subscribing replays them). */
  private replay(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.watch();
  }
}

/** mTLS server credentials: our SVID, client certificates required and verified against the bundles. */
export function spiffeServerCredentials(source: X509Source): ServerCredentials {
  const provider = new SourceCertificateProvider(source);
  return experimental.createCertificateProviderServerCredentials(provider, provider, true);
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

import { X509Certificate, type KeyObject } from 'node:crypto';
import { BehaviorSubject, filter, firstValueFrom, type Observable } from 'rxjs';
import { derElements } from './derRead.js';
import { parseSpiffeId, type SpiffeId } from './spiffeId.js';

/** This workload's X.509-SVID: its certificate chain (leaf first) and private key. */
export interface X509Svid {
  readonly id: SpiffeId;
  readonly chain: readonly X509Certificate[];
  readonly key: KeyObject;
  /** The leaf's expiry, epoch ms. */
  readonly notAfter: number;
}

/** What the Workload API hands a workload: its SVID and the trust bundles (own domain and federated). */
export interface X509Context {
  readonly svid: X509Svid;
  /** Trust domain → its root certificates. */
  readonly bundles: ReadonlyMap<string, readonly X509Certificate[]>;
}

/** The SPIFFE ID named by a certificate's URI SAN (the first spiffe:// one), or undefined. */
export function spiffeIdOf(cert: X509Certificate): SpiffeId | undefined {
  for (const entry of (cert.subjectAltName ?? '').split(', ')) {
    if (!entry.startsWith('URI:spiffe://')) continue;
    try {
      return parseSpiffeId(entry.slice('URI:'.length));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Builds an SVID from a chain and key, checking that they belong together. */
export function x509Svid(chain: readonly X509Certificate[], key: KeyObject): X509Svid {
  const [leaf] = chain;
  if (leaf === undefined) throw new Error('the SVID has no certificate');
  const id = spiffeIdOf(leaf);
  if (id === undefined) throw new Error(`the SVID certificate ${leaf.subject} has no spiffe:// URI SAN`);
  if (!leaf.checkPrivateKey(key)) throw new Error(`the private key does not belong to the SVID of ${id.href}`);
  return { id, chain, key, notAfter: Date.parse(leaf.validTo) };
}

/** Splits concatenated DER certificates (the Workload API's `x509_svid` and `bundle` fields). */
export function certificatesFromDer(der: Uint8Array): X509Certificate[] {
  return derElements(Buffer.from(der)).map((cert) => new X509Certificate(cert));
}

export const chainPem = (svid: X509Svid): string => svid.chain.map((c) => c.toString()).join('');
export const keyPem = (svid: X509Svid): string => svid.key.export({ type: 'pkcs8', format: 'pem' }).toString();
/** Every trusted root, own trust domain and federated ones, as one PEM. */
export const bundlesPem = (ctx: X509Context): string => [...ctx.bundles.values()].flat().map((c) => c.toString()).join('');

/**
 * Where a process gets its identity: the current X.509 context and every change of it
 * (rotation). `updates` replays the current context first.
 */
export interface X509Source {
  readonly current: X509Context;
  readonly updates: Observable<X509Context>;
}

/** An X509Source fed by a stream of contexts (the Workload API, or a test CA). */
export class StreamedX509Source implements X509Source {
  private readonly latest = new BehaviorSubject<X509Context | undefined>(undefined);
  readonly updates: Observable<X509Context> = this.latest.pipe(filter((c): c is X509Context => c !== undefined));

  push(ctx: X509Context): void {
    this.latest.next(ctx);
  }

  get current(): X509Context {
    const ctx = this.latest.value;
    if (ctx === undefined) throw new Error('no X.509-SVID yet');
    return ctx;
  }

  /** Resolves once the first SVID has arrived. */
  ready(): Promise<X509Context> {
    return firstValueFrom(this.updates);
  }
}

/** Every certificate in a PEM text (a bundle file). */
export function certificatesFromPem(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error('no PEM certificate found');
  return blocks.map((b) => new X509Certificate(b));
}

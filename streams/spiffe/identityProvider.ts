import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defer, type Observable } from 'rxjs';
import { createCa, type IssuedCertificate } from './ca.js';
import { spiffeIdFor, type Entry } from './entries.js';
import type { PeerProcess } from './peerProcess.js';
import { rotatingSvids } from './rotation.js';
import { parseSpiffeId } from './spiffeId.js';
import { spiffeIdOf } from './svid.js';
import type { WorkloadIdentities } from './workloadApiServer.js';

/**
 * The CA of `trustDomain` kept in `dir` (ca.pem, ca-key.pem mode 0600): loaded when present and
 * of that trust domain and still valid for a day, else made anew — so a restarted identity
 * provider keeps the trust every running workload has.
 */
export async function loadOrCreateCa(dir: string, trustDomain: string, ttlMs: number, now: Date): Promise<{ ca: IssuedCertificate; created: boolean }> {
  const certFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'ca-key.pem');
  const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8').catch(() => undefined), readFile(keyFile, 'utf8').catch(() => undefined)]);
  if (certPem !== undefined && keyPem !== undefined) {
    const cert = new X509Certificate(certPem);
    const key = createPrivateKey(keyPem);
    const td = spiffeIdOf(cert)?.trustDomain;
    if (td === trustDomain && cert.checkPrivateKey(key) && Date.parse(cert.validTo) > now.getTime() + 86_400_000) return { ca: { cert, key }, created: false };
  }
  const ca = createCa(trustDomain, now, ttlMs);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(keyFile, ca.key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await writeFile(certFile, ca.cert.toString());
  return { ca, created: true };
}

export interface IdentityProviderOptions {
  readonly ca: IssuedCertificate;
  readonly trustDomain: string;
  readonly svidTtlMs: number;
  readonly entries: readonly Entry[];
  /** Other trust domains' roots, handed to every workload as federated bundles. */
  readonly federated?: ReadonlyMap<string, readonly X509Certificate[]>;
  /** Told of every identity handed out. */
  readonly onIssue?: (caller: PeerProcess, spiffeId: string) => void;
}

/** Identities for the Workload API server: an entry's (or the default) SPIFFE ID per caller, rotating SVIDs. */
export function identityProvider(options: IdentityProviderOptions): WorkloadIdentities {
  for (const e of options.entries) {
    const td = parseSpiffeId(e.spiffeId).trustDomain;
    if (td !== options.trustDomain) throw new Error(`entry ${e.spiffeId} is not in trust domain ${options.trustDomain}: this CA cannot sign it`);
  }
  return {
    trustDomain: options.trustDomain,
    bundle: [options.ca.cert],
    federated: options.federated ?? new Map(),
    svids: (caller): Observable<IssuedCertificate> =>
      defer(() => {
        const id = spiffeIdFor(caller, options.entries, options.trustDomain);
        options.onIssue?.(caller, id);
        return rotatingSvids(options.ca, id, options.svidTtlMs);
      }),
  };
}

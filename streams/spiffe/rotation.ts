import { asyncScheduler, defer, map, startWith, timer, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { issueSvid, newKey, type IssuedCertificate } from './ca.js';
import { StreamedX509Source, x509Svid, type X509Context } from './svid.js';

/**
 * `rotatingSvids(ca, id, ttl)`: an SVID for `id` now and a fresh one every half lifetime (as
 * SPIRE rotates). The workload keeps its key across rotations: a token signed a moment before a
 * rotation must still verify against the certificate the peer saw on its open connection.
 *
 * ```
 * ttl = 4 s   S-------S-------S-------…   (S = SVID valid 4 s, every 2 s)
 * ```
 */
export function rotatingSvids(ca: IssuedCertificate, spiffeId: string, ttlMs: number, scheduler: SchedulerLike = asyncScheduler): Observable<IssuedCertificate> {
  return defer(() => {
    const key = newKey();
    const issue = () => issueSvid(ca, spiffeId, new Date(scheduler.now()), ttlMs, key);
    const half = Math.max(1, Math.floor(ttlMs / 2));
    // The first one synchronously: a workload must not start without an identity.
    return timer(half, half, scheduler).pipe(map(issue), startWith(issue()));
  });
}

/** An X.509 context from an issued SVID, trusting `ca` (its trust domain) and any federated roots. */
export function contextOf(svid: IssuedCertificate, ca: IssuedCertificate, federated: ReadonlyMap<string, readonly IssuedCertificate['cert'][]> = new Map()): X509Context {
  const svidOf = x509Svid([svid.cert], svid.key);
  return { svid: svidOf, bundles: new Map([[svidOf.id.trustDomain, [ca.cert]], ...federated]) };
}

/** An in-process identity from a CA (sandbox tests): rotating SVIDs for one SPIFFE ID. */
export function caSource(ca: IssuedCertificate, spiffeId: string, options: { ttlMs?: number; scheduler?: SchedulerLike } = {}): { source: StreamedX509Source; stop: () => void } {
  const source = new StreamedX509Source();
  const subscription: Subscription = rotatingSvids(ca, spiffeId, options.ttlMs ?? 3_600_000, options.scheduler).subscribe((svid) => source.push(contextOf(svid, ca)));
  return { source, stop: () => subscription.unsubscribe() };
}

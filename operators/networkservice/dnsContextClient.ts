import { BehaviorSubject, defer, type Observable } from 'rxjs';
import { tap } from 'rxjs/operators';
import { DNSConfig } from '../../proto/gen/connectioncontext.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { onSettle } from '../tools/onSettle.js';

export interface DnsContextClientElement extends NetworkServiceElement {
  /** The DNS configs of every live connection of this client, as they change (for a DNS proxy). */
  readonly configs: Observable<readonly DNSConfig[]>;
}

/**
 * `dnsContextClient()` (NSC, upstream dnscontext client): collects the DNS configs each
 * connection's answer carries (`context.dns_context.configs`, set by the endpoint) and offers
 * them, all connections together, as a stream — what the client's local DNS proxy resolves
 * with. A connection's configs go with its Close. `fallback` (the servers the client's resolver
 * named before it was pointed at the proxy) is added to every connection's, as upstream does:
 * asked while there is a connection, with its servers.
 *
 * ```
 * request(a) ──answer{dns:[c1]}──▶ configs: [c1]
 * request(b) ──answer{dns:[c2]}──▶ configs: [c1, c2]
 * close(a)                     ──▶ configs: [c2]
 * ```
 */
export function dnsContextClient(options: { fallback?: DNSConfig } = {}): DnsContextClientElement {
  const byConnection = new Map<string, DNSConfig[]>();
  const fallback = options.fallback ? [DNSConfig.fromPartial(options.fallback)] : [];
  const configs = new BehaviorSubject<readonly DNSConfig[]>([]);
  const publish = () => configs.next([...byConnection.values()].flat());
  return {
    configs: configs.asObservable(),
    request: (request, ctx, next) =>
      next.request(request, ctx).pipe(
        tap((conn) => {
          byConnection.set(conn.id, [...(conn.context?.dnsContext?.configs ?? []).map((c) => DNSConfig.fromPartial(c)), ...fallback]);
          publish();
        }),
      ),
    close: (conn, ctx, next) =>
      defer(() => next.close(conn, ctx)).pipe(
        onSettle(() => {
          if (byConnection.delete(conn.id)) publish();
        }),
      ),
  };
}

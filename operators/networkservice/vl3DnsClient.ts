import { defer } from 'rxjs';
import { tap } from 'rxjs/operators';
import { ConnectionContext, DNSConfig, DNSContext } from '../../proto/gen/connectioncontext.js';
import { invalidArgument } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import type { Vl3Dns } from '../tools/vl3Dns.js';

/**
 * `vl3DnsClient(dns)` (a vl3 NSE's connections to its peers, upstream vl3dns client): the NSE
 * asks with its own DNS server as the connection's DNS config, so the peer learns whom to ask,
 * and the peer's DNS servers in the answer (not its own) become ones its DNS server asks, until
 * the Close.
 *
 * ```
 * request(dns [own]) → answer dns [peer] → dns.peers$: [peer]
 * close              →                     dns.peers$: []
 * ```
 */
export function vl3DnsClient(dns: Vl3Dns): NetworkServiceElement {
  return {
    request: (request, ctx, next) =>
      defer(() => {
        const conn = request.connection;
        if (conn === undefined) throw invalidArgument('request has no connection');
        const own = dns.serverIp();
        conn.context ??= ConnectionContext.fromPartial({});
        conn.context.dnsContext ??= DNSContext.fromPartial({});
        conn.context.dnsContext.configs = own === undefined ? [] : [DNSConfig.fromPartial({ dnsServerIps: [own] })];
        return next.request(request, ctx).pipe(
          tap((answer) => {
            const peers = (answer.context?.dnsContext?.configs ?? []).filter((c) => own === undefined || !c.dnsServerIps.includes(own));
            dns.setPeers(`client:${answer.id}`, peers);
          }),
        );
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        dns.setPeers(`client:${conn.id}`, []);
        return next.close(conn, ctx);
      }),
  };
}

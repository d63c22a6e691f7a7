import type { Vl3Dns } from '../../operators/tools/vl3Dns.js';
import { serveDnsProxy, type DnsProxy } from './dnsProxy.js';
import { answerFromRecords } from './records.js';

/**
 * A vl3 NSE's DNS server (upstream vl3dns: memory records, then fanout): its clients' names
 * from `dns`, every other name asked of the peers' DNS servers (`dns.peers$`, at `serverPort`
 * when a config names no port), who answer from their own records only.
 */
export function serveVl3Dns(dns: Vl3Dns, options: { host: string; port: number; serverPort?: number }): Promise<DnsProxy> {
  return serveDnsProxy({
    host: options.host,
    port: options.port,
    configs: dns.peers$,
    local: (query) => answerFromRecords(query, (name) => dns.lookup(name)),
    peers: true,
    ...(options.serverPort === undefined ? {} : { serverPort: options.serverPort }),
  });
}

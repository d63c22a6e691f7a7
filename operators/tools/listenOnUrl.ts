import { isIPv4 } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';
import { type NsmUrl, tcpUrl } from './nsmUrl.js';

/** `os.networkInterfaces()`'s shape: interface name → its addresses, in the kernel's order. */
export type InterfaceAddresses = NodeJS.Dict<NetworkInterfaceInfo[]>;

const isLoopback = (ip: string): boolean => (isIPv4(ip) ? ip.startsWith('127.') : ip === '::1');

/** Go's IP.IsGlobalUnicast for an IPv6 address: not unspecified, loopback, link-local or multicast. */
const isGlobalUnicast6 = (ip: string): boolean => !(ip === '::' || ip === '::1' || /^fe[89ab]/i.test(ip) || /^ff/i.test(ip));

/**
 * The URL an nsmgr advertises for `listenOn` (upstream cmd-nsmgr genPublishableURL + sdk
 * listenonurl): the first tcp URL (else the first URL); when its host is empty (`tcp://:5001`),
 * the first non-loopback IPv4 address of `interfaces` fills it in, else the first global unicast
 * IPv6 one, else it stays as it is. Upstream rewrites only the empty host: `tcp://0.0.0.0:5001`
 * and `tcp://[::]:5001` are advertised verbatim, as there.
 */
export function publicUrl(listenOn: readonly NsmUrl[], interfaces: InterfaceAddresses): NsmUrl | undefined {
  const url = listenOn.find((u) => u.scheme === 'tcp') ?? listenOn[0];
  if (url?.scheme !== 'tcp' || url.host !== '') return url;
  let ipv6: string | undefined;
  for (const addresses of Object.values(interfaces)) {
    for (const { address } of addresses ?? []) {
      if (isLoopback(address)) continue;
      if (isIPv4(address)) return tcpUrl(address, url.port);
      if (ipv6 === undefined && isGlobalUnicast6(address)) ipv6 = address;
    }
  }
  return ipv6 === undefined ? url : tcpUrl(ipv6, url.port);
}

import type { Observable } from 'rxjs';
import { map } from 'rxjs/operators';
import { exec } from '../kernel/exec.js';

/**
 * Turns TX checksum offload off on `ifname` (in netns `netns`, a name under /run/netns, or this
 * one): OVS's userspace datapath passes the veth's packets on with their checksums never filled
 * in, so TCP across it fails while ICMP works (ovs-issues #273).
 */
export function txChecksumOff(ifname: string, netns?: string): Observable<void> {
  const args = ['-K', ifname, 'tx', 'off'];
  return (netns ? exec('ip', ['netns', 'exec', netns, 'ethtool', ...args]) : exec('ethtool', args)).pipe(map(() => undefined));
}

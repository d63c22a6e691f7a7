import type { Observable } from 'rxjs';
import { map } from 'rxjs/operators';
import { exec } from '../kernel/exec.js';

/**
 * Turns TX checksum offload off on `ifname` in the netns at `netnsPath`: OVS's userspace
 * datapath passes a veth's packets on with their checksums never filled in, so TCP across it
 * fails while ICMP works (ovs-issues #273).
 */
export function txChecksumOff(ifname: string, netnsPath: string): Observable<void> {
  return exec('nsenter', [`--net=${netnsPath}`, 'ethtool', '-K', ifname, 'tx', 'off']).pipe(map(() => undefined));
}

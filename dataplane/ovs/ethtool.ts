import type { Observable } from 'rxjs';
import { map } from 'rxjs/operators';
import { exec } from '../kernel/exec.js';

/**
 * Offloads OVS's userspace datapath cannot live with when it runs without userspace TSO, by their
 * ethtool names: `tx` (TX checksum offload: a veth's packets reach it with checksums never filled
 * in, so TCP fails while ICMP works, ovs-issues #273) and `gro` (a VXLAN device merges what it
 * decapsulates into packets far above the MTU, which the workload's veth then drops).
 */
export type Offload = 'tx' | 'gro';

/** Turns `offloads` off on `ifname` in the netns at `netnsPath`. */
export function offloadsOff(ifname: string, netnsPath: string, offloads: readonly Offload[]): Observable<void> {
  return exec('nsenter', [`--net=${netnsPath}`, 'ethtool', '-K', ifname, ...offloads.flatMap((o) => [o, 'off'])]).pipe(map(() => undefined));
}

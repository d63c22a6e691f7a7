import type { NetworkServiceElement } from '../core/networkservice.js';
import { groupIpam } from './groupIpam.js';
import { strictIpam } from './strictIpam.js';

export type IpamPolicy = 'polite' | 'strict';

/** NSM_IPAM_POLICY: `polite` or `strict`, any case (upstream lower-cases it). */
export function parseIpamPolicy(s: string): IpamPolicy {
  const p = s.toLowerCase();
  if (p === 'polite' || p === 'strict') return p;
  throw new Error(`${JSON.stringify(s)} is not an IPAM policy (expected polite or strict)`);
}

/**
 * The NSE's IPAM for a policy, as cmd-nse-icmp-responder builds it: `groupIpam(groups)`, wrapped
 * by `strictIpam` over all the groups' prefixes when strict.
 */
export function ipamForPolicy(policy: IpamPolicy, groups: readonly (readonly string[])[]): NetworkServiceElement {
  const ipam = groupIpam(groups);
  return policy === 'strict' ? strictIpam(ipam, groups.flat()) : ipam;
}

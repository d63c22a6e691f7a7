import { defer } from 'rxjs';
import { IPContext } from '../../proto/gen/connectioncontext.js';
import type { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { bitsOf, cidrContainsCidr, tryParseCidr, tryParseIp, type Cidr } from '../tools/cidr.js';
import type { Vl3Ipam } from '../tools/vl3Ipam.js';

/** `10.0.0.1/32` or a bare `10.0.0.1` (a host), undefined when it is neither. */
function addressCidr(s: string): Cidr | undefined {
  if (s.includes('/')) return tryParseCidr(s);
  const ip = tryParseIp(s);
  return ip && { family: ip.family, address: ip.value, prefixLength: bitsOf(ip.family) };
}

/**
 * A request from another vl3 NSE: one of its DNS servers is one of its own source addresses (a
 * vl3 NSE serves DNS on its own address; a plain client names the NSE's DNS, not its own).
 * Compared as addresses, so `fd00::1` and `fd00:0::1/128` are the same.
 */
export function isVl3Peer(request: NetworkServiceRequest): boolean {
  const context = request.connection?.context;
  const own = (context?.ipContext?.srcIpAddrs ?? []).map((a) => tryParseIp(a.split('/')[0] ?? ''));
  const servers = (context?.dnsContext?.configs ?? []).flatMap((c) => c.dnsServerIps).map(tryParseIp);
  return servers.some((s) => s !== undefined && own.some((o) => o !== undefined && o.family === s.family && o.value === s.value));
}

/**
 * `strictVl3Ipam(ipam)` (vl3 NSE, upstream ipam/strictvl3ipam; put it before vl3Server): a
 * request whose destination addresses all lie outside the NSE's current prefix was addressed by
 * another NSE or before a restart, so its IP context is emptied and vl3Server addresses it anew.
 * A peer vl3 NSE (isVl3Peer) keeps what it says of itself, its source addresses and destination
 * routes. Requests without destination addresses (first Requests), and every request before the
 * NSE has a prefix (vl3Server answers those), pass on untouched.
 *
 * ```
 * prefix 10.0.0.0/24
 * dst [10.1.0.0/32], src [10.1.0.5/32]            → {} (empty IPContext)
 * peer: src [10.1.0.0/32], dns 10.1.0.0, dst [...] → src [10.1.0.0/32] and its dstRoutes only
 * dst [10.0.0.0/32], src [10.0.0.3/32]            → unchanged
 * ```
 */
export function strictVl3Ipam(ipam: Vl3Ipam): NetworkServiceElement {
  return {
    request: (request, ctx, next) =>
      defer(() => {
        const context = request.connection?.context;
        const ip = context?.ipContext;
        if (!ipam.initialized || context === undefined || ip === undefined || ip.dstIpAddrs.length === 0) return next.request(request, ctx);
        const self = tryParseCidr(ipam.selfPrefix());
        const ours = ip.dstIpAddrs.some((a) => {
          const c = addressCidr(a);
          return self !== undefined && c !== undefined && cidrContainsCidr(self, c);
        });
        if (!ours) {
          context.ipContext = isVl3Peer(request)
            ? IPContext.fromPartial({ srcIpAddrs: ip.srcIpAddrs, dstRoutes: ip.dstRoutes })
            : IPContext.fromPartial({});
        }
        return next.request(request, ctx);
      }),
  };
}

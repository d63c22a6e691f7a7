import { defer } from 'rxjs';
import type { Mechanism } from '../../proto/gen/connection.js';
import type { NetworkServiceElement } from '../core/networkservice.js';

/**
 * Orders `preferences` by `priorities`: the types in the list first, in list order, then the rest
 * as they were (both parts stable). The list is upper-cased, the preference's type is compared as
 * it is (upstream: a lower-case "kernel" preference is not matched by any list entry). A type
 * listed twice takes its last position.
 */
export function prioritizeMechanisms(preferences: readonly Mechanism[], priorities: readonly string[]): Mechanism[] {
  const rank = new Map<string, number>();
  priorities.forEach((p, i) => rank.set(p.toUpperCase(), i));
  const ranked = preferences.filter((m) => rank.has(m.type));
  const rest = preferences.filter((m) => !rank.has(m.type));
  // Array.prototype.sort is stable (ES2019).
  ranked.sort((a, b) => (rank.get(a.type) as number) - (rank.get(b.type) as number));
  return [...ranked, ...rest];
}

/**
 * `mechanismPriority(...types)` (client side): reorders the mechanism preferences so the next hop
 * tries the listed types first, e.g. `mechanismPriority('vxlan', 'wireguard')`. Close passes
 * through.
 *
 * ```
 * priorities [KERNEL, WIREGUARD]: [SRV6, VXLAN, WIREGUARD, KERNEL, MEMIF] → [KERNEL, WIREGUARD, SRV6, VXLAN, MEMIF]
 * ```
 */
export function mechanismPriority(...priorities: string[]): NetworkServiceElement {
  const list = [...priorities];
  return {
    request: (request, ctx, next) =>
      defer(() => {
        request.mechanismPreferences = prioritizeMechanisms(request.mechanismPreferences, list);
        return next.request(request, ctx);
      }),
  };
}

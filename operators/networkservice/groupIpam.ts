import { chain, type NetworkServiceElement } from '../core/networkservice.js';
import { point2pointIpam } from './point2pointIpam.js';

/**
 * `groupIpam(groups)` (upstream groupipam): one IPAM per group, chained, so a connection gets one
 * pair from each group. `newIpam` defaults to `point2pointIpam`. No groups → passes through.
 */
export function groupIpam(
  groups: readonly (readonly string[])[],
  newIpam: (prefixes: readonly string[]) => NetworkServiceElement = point2pointIpam,
): NetworkServiceElement {
  const elements = groups.map((g) => newIpam(g));
  return {
    request: (request, ctx, next) => chain(elements, next).request(request, ctx),
    close: (conn, ctx, next) => chain(elements, next).close(conn, ctx),
  };
}

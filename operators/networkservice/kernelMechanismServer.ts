import { defer } from 'rxjs';
import type { Connection } from '../../proto/gen/connection.js';
import { randomInterfaceName } from '../../dataplane/kernel/names.js';
import type { NetworkServiceElement } from '../core/networkservice.js';

/**
 * `kernelMechanismServer(netnsUrl)` (NSE, inside `mechanisms({KERNEL: […]})`): tells the
 * forwarder where to put the endpoint's interface — this endpoint's netns (`inodeURL`) — and
 * what to call it: the name the mechanism already has (the forwarder's proposal, or the one a
 * refresh carries), else upstream's `<service[:10]>-<random>` (upstream kernel.NewServer).
 * Close passes through.
 *
 * ```
 * request {KERNEL {}}                ──▶ next sees {KERNEL {inodeURL: inode://4/4026531840, name: icmp-respo-Xq3z}}
 * request {KERNEL {name: icmp-respo-a1B2}} ──▶ next sees {KERNEL {inodeURL: inode://4/4026531840, name: icmp-respo-a1B2}}
 * ```
 */
export function kernelMechanismServer(netnsUrl: () => string): NetworkServiceElement {
  return {
    request: (request, ctx, next) =>
      defer(() => {
        const conn = request.connection as Connection;
        const m = conn.mechanism;
        if (m?.type === 'KERNEL') m.parameters = { ...m.parameters, inodeURL: netnsUrl(), name: m.parameters['name'] || randomInterfaceName(conn.networkService) };
        return next.request(request, ctx);
      }),
  };
}

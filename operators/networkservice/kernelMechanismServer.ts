import { defer } from 'rxjs';
import type { Connection } from '../../proto/gen/connection.js';
import type { NetworkServiceElement } from '../core/networkservice.js';

/** Linux IFNAMSIZ − 1. */
const maxName = 15;

/** Upstream GetNameFromConnection: `<service[:10]>-<connection id>`, cut to 15 characters. */
export function interfaceNameOf(conn: Connection): string {
  return `${conn.networkService.slice(0, maxName - 5)}-${conn.id}`.slice(0, maxName);
}

/**
 * `kernelMechanismServer(netnsUrl)` (NSE, inside `mechanisms({KERNEL: […]})`): tells the
 * forwarder where to put the endpoint's interface — this endpoint's netns (`inodeURL`) — and
 * what to call it (upstream kernel.NewServer). Close passes through.
 *
 * ```
 * request {KERNEL {}} ──▶ next sees {KERNEL {inodeURL: inode://4/4026531840, name: icmp-respo-<id>}}
 * ```
 */
export function kernelMechanismServer(netnsUrl: () => string): NetworkServiceElement {
  return {
    request: (request, ctx, next) =>
      defer(() => {
        const conn = request.connection as Connection;
        const m = conn.mechanism;
        if (m?.type === 'KERNEL') m.parameters = { ...m.parameters, inodeURL: netnsUrl(), name: interfaceNameOf(conn) };
        return next.request(request, ctx);
      }),
  };
}

import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import { defaultEndpointSocket } from '../../streams/spiffe/workloadApi.js';
import type { RunContext } from '../cli/component.js';
import { startSecurity, type Security } from '../cli/security.js';

/** Who a part is: its SVID from a SPIFFE Workload API (SPIRE or `nsm-rx identity`), or nothing at all for tests. */
export interface IdentityOptions {
  /** The Workload API socket (default: SPIFFE_ENDPOINT_SOCKET, else SPIRE's agent socket). */
  readonly spiffeEndpointSocket?: string;
  /** Plaintext gRPC and unsigned tokens, as NSM_INSECURE=true: only against a mesh run so. */
  readonly insecure?: boolean;
  /** Lifetime of the tokens it issues, ms (default 10 minutes). */
  readonly maxTokenLifetime?: number;
}

/** The part's security as a daemon's (`startSecurity`): waits for the SVID unless insecure. */
export function security(name: string, options: IdentityOptions, ctx: RunContext): Promise<Security> {
  const socket = options.spiffeEndpointSocket ?? process.env['SPIFFE_ENDPOINT_SOCKET'] ?? defaultEndpointSocket;
  return startSecurity({ name, insecure: options.insecure ?? false, spiffeEndpointSocket: parseNsmUrl(socket), maxTokenLifetime: options.maxTokenLifetime ?? 600_000 }, ctx);
}

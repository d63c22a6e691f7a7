import { defer } from 'rxjs';
import type { NetworkServiceElement } from '../core/networkservice.js';

export interface KernelMechanismClientOptions {
  /** This client's netns as an inodeURL (`inode://dev/ino`; see dataplane/kernel/netns ownNetnsUrl). */
  netnsUrl: () => string;
  /** The interface name in the client's netns (from the nsc's URL `kernel://ns/<ifname>`). */
  interfaceName: string;
}

/**
 * `kernelMechanismClient` (NSC): offers a KERNEL mechanism for this client's netns with the
 * interface name it wants, unless one is offered already (upstream kernel.NewClient). Close
 * passes through.
 *
 * ```
 * request prefs[] ──▶ next sees prefs[{LOCAL KERNEL {inodeURL, name: nsm-1}}]
 * ```
 */
export function kernelMechanismClient(options: KernelMechanismClientOptions): NetworkServiceElement {
  return {
    request: (request, ctx, next) =>
      defer(() => {
        if (!request.mechanismPreferences.some((m) => m.type === 'KERNEL')) {
          request.mechanismPreferences.push({ cls: 'LOCAL', type: 'KERNEL', parameters: { inodeURL: options.netnsUrl(), name: options.interfaceName } });
        }
        return next.request(request, ctx);
      }),
  };
}

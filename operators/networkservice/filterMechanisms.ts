import { defer, throwError } from 'rxjs';
import type { Mechanism } from '../../proto/gen/connection.js';
import { internal } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import type { NsmUrl } from '../tools/nsmUrl.js';
import { clientUrlOf } from './clientUrl.js';

/** Mechanism classes (api `cls`). */
export const CLS_LOCAL = 'LOCAL';
export const CLS_REMOTE = 'REMOTE';

/** The class of mechanism a next hop at `url` can take: a unix or inode socket is on this node. */
export function mechanismClassFor(url: NsmUrl): typeof CLS_LOCAL | typeof CLS_REMOTE {
  return url.scheme === 'unix' || url.scheme === 'inode' ? CLS_LOCAL : CLS_REMOTE;
}

/** The preferences of class `cls`, in order (compared exactly, as upstream). */
export function filterMechanismsByCls(preferences: readonly Mechanism[], cls: string): Mechanism[] {
  return preferences.filter((m) => m.cls === cls);
}

/**
 * `filterMechanisms` (client side, after the next hop's URL is known): a next hop reached over a
 * unix or inode socket runs on this node and gets only the LOCAL mechanism preferences; any other
 * (tcp) gets only the REMOTE ones. Nothing of that class left → an empty list is sent (the next
 * hop answers that nothing is supported). Close passes through.
 *
 * ```
 * prefs [KERNEL(L), VXLAN(R), MEMIF(L)]  url unix:///nsm.sock → [KERNEL, MEMIF]
 *                                        url tcp://10.0.0.2:5001 → [VXLAN]
 * ```
 */
export function filterMechanisms(): NetworkServiceElement {
  return {
    request: (request, ctx, next) =>
      defer(() => {
        const url = clientUrlOf(ctx);
        if (url === undefined) return throwError(() => internal('filterMechanisms: no client URL in the context (clientUrl or discover must run before it)'));
        request.mechanismPreferences = filterMechanismsByCls(request.mechanismPreferences, mechanismClassFor(url));
        return next.request(request, ctx);
      }),
  };
}

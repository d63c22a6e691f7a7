import { defer, type Observable } from 'rxjs';
import { concatMap, take } from 'rxjs/operators';
import { PolicyRoute } from '../../proto/gen/connectioncontext.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { latestOf } from '../../streams/latest.js';
import { ipContextOf } from './point2pointIpam.js';

export interface PolicyRoutesElement extends NetworkServiceElement {
  /** Stops following the policies' source. */
  dispose(): void;
}

/**
 * `policyRoutes(policies$)` (NSE side, upstream policyroute server fed by cmd-nse-icmp-responder's
 * watched NSM_PBR_CONFIG_PATH): every Request — the first and each refresh — carries the latest
 * policies in `ip_context.policies`, so a changed file reaches a connection at its next refresh.
 * As upstream, each policy's `from` is also a client address: the previous policies' `from`
 * entries leave `src_ip_addrs`, the new ones are appended. `policies$` is followed from creation
 * (upstream reads the file at start); a Request before its first list waits for it, and if it
 * ends or fails before one the list is empty. Close passes through.
 *
 * ```
 * policies$  a-------b--------
 * requests   --r1--------r2---
 * policies   --a---------b----   (r2 is r1's refresh)
 * ```
 */
export function policyRoutes(policies$: Observable<readonly PolicyRoute[]>): PolicyRoutesElement {
  const { latest$, dispose } = latestOf<readonly PolicyRoute[]>(policies$, []);
  const following = latest$.subscribe(); // from creation, as upstream reads the file at start
  return {
    dispose: () => {
      dispose();
      following.unsubscribe();
    },
    request: (request, ctx, next) =>
      defer(() =>
        latest$.pipe(
          take(1),
          concatMap((policies) => {
            const ip = ipContextOf(request);
            for (const old of ip.policies) {
              const i = old.from === '' ? -1 : ip.srcIpAddrs.indexOf(old.from);
              if (i >= 0) ip.srcIpAddrs.splice(i, 1);
            }
            ip.policies = policies.map((p) => PolicyRoute.fromPartial(p));
            for (const p of ip.policies) if (p.from !== '') ip.srcIpAddrs.push(p.from);
            return next.request(request, ctx);
          }),
        ),
      ),
  };
}

import { asyncScheduler } from 'rxjs';
import { status } from '../../operators/core/status.js';
import { client, type Client } from '../../operators/chains/client.js';
import { messageOf, statusOf } from '../../operators/core/errors.js';
import type { NetworkServiceElement, NetworkServiceHandler } from '../../operators/core/networkservice.js';
import { clientInfo } from '../../operators/networkservice/clientInfo.js';
import { excludedPrefixesClient } from '../../operators/networkservice/excludedPrefixes.js';
import { heal } from '../../operators/networkservice/heal.js';
import type { LivenessCheck } from '../../dataplane/datapath.js';
import { retryClient } from '../../operators/networkservice/retry.js';
import { upstreamRefresh } from '../../operators/networkservice/upstreamRefresh.js';
import { kernelLivenessCheck } from '../../dataplane/kernel/liveness.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import type { RunContext } from '../cli/component.js';
import type { ConfigOf } from '../cli/config.js';
import type { Security } from '../cli/security.js';
import type { nscSpec } from './spec.js';
import { inodeUrlOfFile } from '../../dataplane/kernel/netns.js';

/**
 * The client chain of `nsc` (`keep`: refresh, heal with the datapath probe, upstream refresh)
 * and of `nsc-init` (none of them: its connections outlive it), with the nsc's DNS context
 * client when its local DNS server runs, behind a retry that logs every failed try.
 */
export function nscChain(
  config: ConfigOf<typeof nscSpec>,
  ctx: RunContext,
  security: Security,
  pool: ChannelPool,
  keep: boolean,
  dns?: NetworkServiceElement,
): { chain: Client; handler: NetworkServiceHandler; retrying(h: NetworkServiceHandler): NetworkServiceHandler; liveness: LivenessCheck | undefined } {
  const scheduler = asyncScheduler;
  // The datapath probe of upstream cmd-nsc: pings over the connection from this netns.
  const liveness = config.livenessCheckEnabled ? kernelLivenessCheck({ timeout: config.livenessCheckTimeout }) : undefined;
  const chain = client({
    name: config.name,
    pool,
    url: config.connectTo,
    dialTimeout: config.dialTimeout,
    refresh: keep,
    token: security.token,
    inodeUrlOf: inodeUrlOfFile,
    policies: security.enforce(config.clientPolicies),
    ...(keep
      ? {
          heal: heal({
            scheduler,
            logger: ctx.log,
            ...(ctx.metrics ? { onHeal: ctx.metrics.healed } : {}),
            ...(liveness ? { livenessCheck: liveness, livenessInterval: config.livenessCheckInterval, livenessTimeout: config.livenessCheckTimeout + 500 } : {}),
          }),
        }
      : {}),
    // Upstream's order: clientinfo, upstreamrefresh, (sriovtoken, mechanisms, sendfd,) dnscontext, excludedprefixes.
    additional: [clientInfo({ env: ctx.env }), ...(keep ? [upstreamRefresh({ scheduler })] : []), ...(dns ? [dns] : []), excludedPrefixesClient({ awarenessGroups: config.awarenessGroups })],
    scheduler,
  });
  const retrying = (h: NetworkServiceHandler) =>
    retryClient(h, {
      scheduler,
      tryTimeout: config.requestTimeout,
      onRetry: (e) => ctx.log.warn('request failed, retrying', { code: status[statusOf(e)], error: messageOf(e) }),
    });
  return { chain, handler: retrying(chain.handler), retrying, liveness };
}

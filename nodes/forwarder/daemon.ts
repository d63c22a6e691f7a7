import { policies, securitySpec, startSecurity } from '../cli/security.js';
import { defaultServerPolicies } from '../../operators/authorize/policies.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncScheduler, firstValueFrom, fromEvent, lastValueFrom, takeUntil } from 'rxjs';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { forwarder } from '../../operators/chains/forwarder.js';
import { registryClient } from '../../operators/chains/registryClient.js';
import { Context } from '../../operators/core/context.js';
import { registerAtStartup } from '../../operators/registry/registerAtStartup.js';
import { unixUrl } from '../../operators/tools/nsmUrl.js';
import type { Datapath } from '../../dataplane/datapath.js';
import { serveNetworkService } from '../../streams/grpc/networkService.js';
import { GrpcServer } from '../../streams/grpc/server.js';
import type { RunContext } from '../cli/components.js';
import { duration, map, optional, str, url, type ConfigOf } from '../cli/config.js';

/** What every forwarder daemon reads (upstream cmd-forwarder-vpp / -ovs names and defaults). */
export const forwarderSpec = {
  name: str('NSM_NAME', 'forwarder', 'Name of the forwarder (its NSE name and path segment)'),
  labels: map('NSM_LABELS', 'p2p:true', 'Labels of its registration; nsmgrs select forwarders by them'),
  nsName: str('NSM_NSNAME', 'forwarder', 'Network service the forwarder registers under'),
  connectTo: url('NSM_CONNECT_TO', 'unix:///var/lib/networkservicemesh/nsm.io.sock', 'The nsmgr to register through (and discover endpoints with)'),
  listenOn: optional(url('NSM_LISTEN_ON', '', 'Where to serve (default: a unix socket in a new temp dir)')),
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of the tokens this forwarder issues'),
  dialTimeout: duration('NSM_DIAL_TIMEOUT', '750ms', 'Dial timeout toward the next hop'),
  serverPolicies: policies('NSM_SERVER_POLICIES', defaultServerPolicies, 'Policies every Request and Close must pass'),
  ...securitySpec,
};

export type ForwarderConfig = ConfigOf<typeof forwarderSpec>;

/**
 * A forwarder daemon around `datapath`: serves NetworkService and MonitorConnection, registers
 * itself through NSM_CONNECT_TO as an NSE of NSM_NSNAME labelled NSM_LABELS (kept fresh and
 * re-registered after an nsmgr restart), and on shutdown unregisters and stops.
 */
export async function runForwarder(config: ForwarderConfig, ctx: RunContext, datapath: Datapath): Promise<void> {
  const dir = config.listenOn ? undefined : await mkdtemp(join(tmpdir(), 'nsm-rx-forwarder-'));
  const listen = config.listenOn ?? unixUrl(join(dir as string, 'listen.on.sock'));
  const security = await startSecurity(config, ctx);
  const pool = security.pool();
  const registry = registryClient({ pool, url: config.connectTo, dialTimeout: config.dialTimeout });
  const hop = forwarder({
    name: config.name,
    registry,
    datapath,
    pool,
    dialTimeout: config.dialTimeout,
    token: security.token,
    policies: security.enforce(config.serverPolicies),
  });
  const server = new GrpcServer({ credentials: security.serverCredentials });
  serveNetworkService(server, hop.handler, hop.monitor, security.secure ? hop.owners : undefined);
  const [bound] = await server.listen([listen]);
  const budget = () => Context.background.withDeadline(asyncScheduler.now() + 15_000);
  const url = (bound ?? listen).href;
  let registered: NetworkServiceEndpoint | undefined;
  ctx.lifecycle.onShutdown('forwarder', async () => {
    if (registered) await lastValueFrom(registry.nse.unregister(registered, budget()), { defaultValue: undefined }).catch((e: unknown) => ctx.log.warn('unregister failed', { error: String(e) }));
    registry.dispose();
    hop.state.metadata.dispose();
    await server.stop(1000);
    pool.closeAll();
    security.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  // Tried until the nsmgr answers, however late it starts (upstream: no deadline).
  registered = await firstValueFrom(
    registerAtStartup(
      (tryCtx) =>
        registry.nse.register(
          NetworkServiceEndpoint.fromPartial({ name: config.name, networkServiceNames: [config.nsName], networkServiceLabels: { [config.nsName]: { labels: config.labels } }, url }),
          tryCtx,
        ),
      { onFailure: (e, attempt) => ctx.log.error('registration failed; trying again', { connectTo: config.connectTo.href, attempt, error: String(e) }) },
    ).pipe(takeUntil(fromEvent(ctx.signal, 'abort'))),
    { defaultValue: undefined },
  );
  if (registered) ctx.log.info('serving', { url, datapath: datapath.name, registeredAs: registered.name });
  await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
}

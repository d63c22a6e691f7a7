import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncScheduler, lastValueFrom } from 'rxjs';
import { NetworkService, NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { authorizeMonitor } from '../../operators/authorize/authorizeMonitor.js';
import type { Endpoint } from '../../operators/chains/endpoint.js';
import { registryClient, type RegistryClient } from '../../operators/chains/registryClient.js';
import { Context } from '../../operators/core/context.js';
import { unixUrl, type NsmUrl } from '../../operators/tools/nsmUrl.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import { serveNetworkService } from '../../streams/grpc/networkService.js';
import type { RunContext } from './component.js';
import type { Security } from './security.js';
import { logRetry, untilShutdown } from './startupRegister.js';

/** What an endpoint daemon registers, and how (upstream cmd-nse-*'s common variables). */
export interface EndpointRegistration {
  readonly name: string;
  readonly connectTo: NsmUrl;
  readonly serviceNames: readonly string[];
  readonly payload: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly registerService: boolean;
  readonly unregisterItself: boolean;
  readonly monitorPolicies: readonly string[];
  readonly registryClientPolicies: readonly string[];
}

/** What an endpoint daemon adds around serving: its own parts' shutdown, and what starts once it is registered. */
export interface EndpointHooks {
  /** Runs first at shutdown, before the endpoint unregisters (its own parts; awaited). */
  readonly stop?: () => void | Promise<void>;
  /** Runs once the endpoint is registered, with its registry client (through its nsmgr). */
  readonly serving?: (registry: RegistryClient, registered: NetworkServiceEndpoint) => void;
}

/**
 * What every endpoint daemon does with its chain: serves it on a unix socket of its own (and
 * MonitorConnection), registers its services (unless told not to) and itself through its nsmgr,
 * trying until the nsmgr answers and refreshing after, and on shutdown (after `hooks.stop`, its
 * own parts) unregisters if asked, stops serving and releases everything. Resolves at shutdown.
 */
export async function serveEndpoint(hop: Endpoint, reg: EndpointRegistration, security: Security, ctx: RunContext, hooks: EndpointHooks = {}): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nsm-rx-nse-'));
  const listen = unixUrl(join(dir, 'listen.on.sock'));
  const server = security.server();
  serveNetworkService(server, hop.handler, hop.monitor, security.enforce(reg.monitorPolicies).length ? authorizeMonitor(hop.owners) : undefined);
  await server.listen([listen]);

  const pool: ChannelPool = security.pool();
  const registry = registryClient({ pool, url: reg.connectTo, dialTimeout: 5000, policies: security.enforce(reg.registryClientPolicies), onRetry: logRetry(ctx, reg.connectTo.href) });
  const budget = () => Context.background.withDeadline(asyncScheduler.now() + 15_000);
  let registered: NetworkServiceEndpoint | undefined;
  ctx.lifecycle.onShutdown(reg.name, async () => {
    await hooks.stop?.();
    if (reg.unregisterItself && registered) await lastValueFrom(registry.nse.unregister(registered, budget()), { defaultValue: undefined }).catch(() => undefined);
    registry.dispose();
    hop.state.metadata.dispose();
    await server.stop(1000);
    pool.closeAll();
    security.stop();
    await rm(dir, { recursive: true, force: true });
  });
  // Each Register is tried until the nsmgr answers, however late it starts (upstream: no deadline).
  if (reg.registerService) {
    for (const name of reg.serviceNames) await untilShutdown(ctx, registry.ns.register(NetworkService.fromPartial({ name, payload: reg.payload }), Context.background));
  }
  registered = await untilShutdown(
    ctx,
    registry.nse.register(
      NetworkServiceEndpoint.fromPartial({
        name: reg.name,
        networkServiceNames: [...reg.serviceNames],
        networkServiceLabels: Object.fromEntries(reg.serviceNames.map((s) => [s, { labels: { ...reg.labels } }])),
        url: listen.href,
      }),
      Context.background,
    ),
  );
  if (registered) {
    ctx.log.info('serving', { url: listen.href, services: reg.serviceNames, expires: registered.expirationTime });
    hooks.serving?.(registry, registered);
  }
  await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
}

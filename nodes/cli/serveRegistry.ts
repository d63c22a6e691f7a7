import type { NSEHandler, NSHandler } from '../../operators/core/registry.js';
import type { NsmUrl } from '../../operators/tools/nsmUrl.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import { serveRegistries } from '../../streams/grpc/registry.js';
import type { RunContext } from './component.js';
import type { Security } from './security.js';

/**
 * What every registry daemon (registry-memory, registry-k8s, registry-proxy-dns) does with its
 * chains: serves both registries with gRPC health on every listen URL, says so with `fields`,
 * and on shutdown ends the chains' loops, stops serving, closes `pool` and its SVID.
 */
export async function serveRegistryUntilStopped(
  name: string,
  registry: { readonly ns: NSHandler; readonly nse: NSEHandler; dispose(): void },
  listenOn: readonly NsmUrl[],
  { security, pool, fields }: { security: Security; pool: ChannelPool; fields: Readonly<Record<string, unknown>> },
  ctx: RunContext,
): Promise<void> {
  const server = security.server();
  serveRegistries(server, registry.ns, registry.nse);
  const urls = await server.listen(listenOn);
  ctx.log.info('serving', { urls: urls.map((u) => u.href), ...fields });
  ctx.lifecycle.onShutdown(name, async () => {
    registry.dispose();
    await server.stop(1000);
    pool.closeAll();
    security.stop();
  });
  await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
}

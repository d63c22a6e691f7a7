import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '../../operators/core/status.js';
import { firstValueFrom } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NetworkService, NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { memoryRegistry, type MemoryRegistry } from '../../operators/chains/registry.js';
import { Context } from '../../operators/core/context.js';
import { unixUrl } from '../../operators/tools/nsmUrl.js';
import { unsignedTokenGenerator } from '../../operators/tools/token.js';
import { ChannelPool } from '../../streams/grpc/channelPool.js';
import { ServingStatus } from '../../streams/grpc/health.js';
import { GrpcServer } from '../../streams/grpc/server.js';
import { registryViews, type RegistryViews } from '../../streams/registryViews.js';
import { warmNextHops } from './warmUp.js';

describe('warmNextHops (a fresh forwarder readies what its first Requests need)', () => {
  let dir: string;
  let nse: GrpcServer;
  let served: string[];
  let registry: MemoryRegistry;
  let views: RegistryViews;
  let pool: ChannelPool;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nsm-rx-warm-'));
    served = [];
    nse = new GrpcServer({ observe: (method) => (code) => served.push(`${method} ${code}`) });
    nse.health.set('networkservice.NetworkService', ServingStatus.SERVING);
    await nse.listen([unixUrl(join(dir, 'nse.sock'))]);
    registry = memoryRegistry({ token: unsignedTokenGenerator('registry', 3_600_000, () => Date.now()) });
    views = registryViews(registry);
    pool = new ChannelPool();
  });
  afterEach(async () => {
    views.dispose();
    registry.dispose();
    pool.closeAll();
    await nse.stop(100);
    rmSync(dir, { recursive: true, force: true });
  });

  const ctx = () => Context.background.withDeadline(Date.now() + 5000);
  const registerService = (name: string) => firstValueFrom(registry.ns.register(NetworkService.fromPartial({ name, payload: 'ETHERNET' }), ctx()));
  const registerEndpoint = (name: string, services: string[], url: string) => firstValueFrom(registry.nse.register(NetworkServiceEndpoint.fromPartial({ name, networkServiceNames: services, url }), ctx()));

  it("connects and health-checks every endpoint's URL and opens the views discover reads for its services; forwarders are neither", async () => {
    await registerService('icmp-responder');
    await registerEndpoint('nse-1', ['icmp-responder'], unixUrl(join(dir, 'nse.sock')).href);
    await registerEndpoint('forwarder-a', ['forwarder'], unixUrl(join(dir, 'forwarder-a.sock')).href);
    expect(views.size).toBe(0);

    expect(await warmNextHops({ nse: registry.nse, forwarderService: 'forwarder', views, pool })).toEqual({ nextHops: 1, services: 1 });

    expect(served).toEqual([`/grpc.health.v1.Health/Check ${status.OK}`]);
    expect(pool.borrowed).toBe(0);
    // One view of the service and one of its endpoints, both as discover queries them.
    expect(views.size).toBe(2);
    await expect.poll(() => views.networkService('icmp-responder')?.payload).toBe('ETHERNET');
    expect(views.endpoints({ networkServiceNames: ['icmp-responder'] })?.map((e) => e.name)).toEqual(['nse-1']);
  });

  it('an endpoint that does not answer is not a next hop it could connect (and costs at most the timeout)', async () => {
    await registerEndpoint('nse-gone', ['icmp-responder'], unixUrl(join(dir, 'gone.sock')).href);
    expect(await warmNextHops({ nse: registry.nse, forwarderService: 'forwarder', views, pool })).toEqual({ nextHops: 0, services: 1 });
    expect(pool.borrowed).toBe(0);
  });
});

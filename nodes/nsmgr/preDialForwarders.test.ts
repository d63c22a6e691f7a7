import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '../../operators/core/status.js';
import { lastValueFrom, of } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { Context } from '../../operators/core/context.js';
import type { NSEHandler } from '../../operators/core/registry.js';
import { unixUrl } from '../../operators/tools/nsmUrl.js';
import { ChannelPool } from '../../streams/grpc/channelPool.js';
import { ServingStatus } from '../../streams/grpc/health.js';
import { GrpcServer } from '../../streams/grpc/server.js';
import { preDialForwarders } from './preDialForwarders.js';

describe('preDialForwarders', () => {
  let dir: string;
  let server: GrpcServer;
  let pool: ChannelPool;
  /** Every call the peer served, as `method code`. */
  let served: string[];
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nsm-rx-predial-'));
    served = [];
    server = new GrpcServer({ observe: (method) => (code) => served.push(`${method} ${code}`) });
    server.health.set('networkservice.NetworkService', ServingStatus.SERVING); // as a forwarder's server says
    await server.listen([unixUrl(join(dir, 'peer.sock'))]);
    pool = new ChannelPool();
  });
  afterEach(async () => {
    pool.closeAll();
    await server.stop(100);
    rmSync(dir, { recursive: true, force: true });
  });

  const registry: NSEHandler = { register: (item) => of(item), find: () => of(), unregister: () => of(undefined) };
  const register = (nse: NSEHandler, services: string[]) =>
    lastValueFrom(nse.register(NetworkServiceEndpoint.fromPartial({ name: 'x', networkServiceNames: services, url: unixUrl(join(dir, 'peer.sock')).href }), Context.background));
  /** The pool's channel to the peer, as the next borrower finds it (borrowing leaves an idle channel idle). */
  const state = () => {
    const channel = pool.acquire(unixUrl(join(dir, 'peer.sock')));
    const s = channel.client.current;
    channel.release();
    return s;
  };

  it('a registered forwarder: its channel is connected and warmed by one health check once Register answered, then given back; a refresh checks no more', async () => {
    await register(preDialForwarders(registry, pool, 'forwarder', 2000), ['forwarder']);
    await expect.poll(() => pool.borrowed).toBe(0);
    expect(state()).toBe('ready');
    expect(served).toEqual([`/grpc.health.v1.Health/Check ${status.OK}`]);
    // A refresh of the registration finds the connection up: no second check.
    await register(preDialForwarders(registry, pool, 'forwarder', 2000), ['forwarder']);
    await new Promise((r) => setTimeout(r, 100));
    expect(pool.borrowed).toBe(0);
    expect(served).toHaveLength(1);
  });

  it('any other endpoint: not dialled (a Request dials it when needed)', async () => {
    await register(preDialForwarders(registry, pool, 'forwarder', 2000), ['icmp-responder']);
    await new Promise((r) => setTimeout(r, 100));
    expect(state()).toBe('idle');
    expect(served).toEqual([]);
  });
});

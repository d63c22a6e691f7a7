import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '../../operators/core/status.js';
import { firstValueFrom, NEVER, Observable, of, throwError } from 'rxjs';
import { finalize, take, toArray } from 'rxjs/operators';
import { afterEach, describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { HealthCheckRequest, HealthService, HealthCheckResponse_ServingStatus as Serving } from '../../proto/gen/health.js';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { NetworkServiceService } from '../../proto/gen/networkservice.js';
import { Context } from '../../operators/core/context.js';
import { notFound } from '../../operators/core/errors.js';
import { registryChain, type NSEHandler, type NSHandler } from '../../operators/core/registry.js';
import { nseRegistryClient } from '../../operators/registry/grpcClient.js';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import { ConnectionMonitor } from '../monitorConnections.js';
import { unaryCall } from './call.js';
import { ChannelPool } from './channelPool.js';
import { serveNetworkService } from './networkService.js';
import { serveRegistries } from './registry.js';
import { GrpcServer } from './server.js';

const pool = new ChannelPool();
const servers: GrpcServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop(100)));
  pool.closeAll();
});

async function serve(setup: (s: GrpcServer) => void): Promise<GrpcServer> {
  const server = new GrpcServer();
  setup(server);
  await server.listen([parseNsmUrl('tcp://127.0.0.1:0')]);
  servers.push(server);
  return server;
}

const nse = (name: string) => NetworkServiceEndpoint.fromPartial({ name, networkServiceNames: ['ns'] });
const emptyNs: NSHandler = registryChain([]);

describe('gRPC bridge', () => {
  it('binds tcp://host:0 and publishes the bound port', async () => {
    const server = await serve(() => undefined);
    const [url] = server.urls;
    expect(url?.scheme).toBe('tcp');
    expect(url?.scheme === 'tcp' && url.port).toBeGreaterThan(0);
  });

  it('carries status codes across and never leaks stack traces', async () => {
    const server = await serve((s) =>
      serveNetworkService(
        s,
        {
          request: (r) => (r.connection?.id === 'missing' ? throwError(() => notFound('no such endpoint')) : throwError(() => new Error('boom'))),
          close: () => of(undefined),
        },
        new ConnectionMonitor(),
      ),
    );
    const channel = pool.acquire(server.urls[0]!);
    const call = (id: string) =>
      firstValueFrom(unaryCall(channel, NetworkServiceService.request, { connection: Connection.fromPartial({ id }), mechanismPreferences: [] }, Context.background)).catch((e: unknown) => e);
    expect(await call('missing')).toMatchObject({ code: status.NOT_FOUND, message: 'no such endpoint' });
    const internal = (await call('other')) as Error;
    expect(internal).toMatchObject({ code: status.INTERNAL, message: 'boom' });
    expect(internal.message).not.toMatch(/at .*\.ts/);
    channel.release();
  });

  it('unsubscribing a unary call cancels the chain on the server', async () => {
    let serverCancelled!: () => void;
    const cancelled = new Promise<void>((r) => (serverCancelled = r));
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const server = await serve((s) =>
      serveNetworkService(
        s,
        {
          request: () =>
            new Observable<Connection>(() => {
              started();
              return serverCancelled;
            }),
          close: () => of(undefined),
        },
        new ConnectionMonitor(),
      ),
    );
    const channel = pool.acquire(server.urls[0]!);
    const sub = unaryCall(channel, NetworkServiceService.request, { connection: Connection.fromPartial({ id: 'a' }), mechanismPreferences: [] }, Context.background).subscribe({
      error: () => undefined,
    });
    await running;
    sub.unsubscribe();
    await cancelled;
    channel.release();
  });

  it('propagates the caller deadline into the server context', async () => {
    let seen: number | undefined;
    const server = await serve((s) =>
      serveNetworkService(
        s,
        {
          request: (r, ctx) => {
            seen = ctx.remaining(Date.now());
            return of(r.connection as Connection);
          },
          close: () => of(undefined),
        },
        new ConnectionMonitor(),
      ),
    );
    const channel = pool.acquire(server.urls[0]!);
    await firstValueFrom(
      unaryCall(channel, NetworkServiceService.request, { connection: Connection.fromPartial({ id: 'a' }), mechanismPreferences: [] }, Context.background.withDeadline(Date.now() + 5000)),
    );
    expect(seen).toBeGreaterThan(4000);
    expect(seen).toBeLessThanOrEqual(5000);
    channel.release();
  });

  it('serves registry chains: Register, a live Find stream, Unregister; cancelling Find reaches the server', async () => {
    let findClosed = false;
    const nseChain: NSEHandler = registryChain([
      {
        find: () =>
          new Observable((o) => {
            o.next({ networkServiceEndpoint: nse('a'), deleted: false });
            o.next({ networkServiceEndpoint: nse('b'), deleted: false });
            return () => (findClosed = true);
          }),
      },
    ]);
    const server = await serve((s) => serveRegistries(s, emptyNs, nseChain));
    const remote = registryChain([nseRegistryClient({ pool, url: server.urls[0]! })]);
    expect((await firstValueFrom(remote.register(nse('x'), Context.background))).name).toBe('x');
    const found = await firstValueFrom(remote.find({ networkServiceEndpoint: nse(''), watch: true }, Context.background).pipe(take(2), toArray()));
    expect(found.map((r) => r.networkServiceEndpoint?.name)).toEqual(['a', 'b']);
    await expect.poll(() => findClosed).toBe(true);
    await firstValueFrom(remote.unregister(nse('x'), Context.background), { defaultValue: undefined });
    expect(pool.borrowed).toBe(0);
  });

  it('a unix socket takes 2,000 connections at once (upstream nsmgrs dial one per NSM connection; Node’s default backlog of 511 refused the rest with EAGAIN), serves over them, and its file goes at stop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-backlog-'));
    const server = new GrpcServer();
    serveRegistries(server, emptyNs, registryChain([]));
    const [url] = await server.listen([parseNsmUrl(`unix://${join(dir, 'listen.on.sock')}`)]);
    // Issued before the event loop can accept any: each one waits in the backlog or is refused.
    const sockets = Array.from({ length: 2000 }, () => connect(join(dir, 'listen.on.sock')));
    const outcomes = await Promise.all(sockets.map((sock) => new Promise<string>((resolve) => (sock.once('connect', () => resolve('ok')), sock.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))))));
    sockets.forEach((sock) => sock.destroy());
    expect(outcomes.filter((o) => o !== 'ok')).toEqual([]);
    const channel = pool.acquire(url!);
    expect((await firstValueFrom(unaryCall(channel, HealthService.check, HealthCheckRequest.fromPartial({ service: '' }), Context.background))).status).toBe(Serving.SERVING);
    channel.release();
    await server.stop(100);
    expect(existsSync(join(dir, 'listen.on.sock'))).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports every served service SERVING on grpc.health.v1, and NOT_FOUND for unknown names', async () => {
    const server = await serve((s) => serveRegistries(s, emptyNs, registryChain([])));
    const channel = pool.acquire(server.urls[0]!);
    const check = (service: string) => firstValueFrom(unaryCall(channel, HealthService.check, HealthCheckRequest.fromPartial({ service }), Context.background));
    for (const name of ['', 'registry.NetworkServiceRegistry', 'registry.NetworkServiceEndpointRegistry']) {
      expect((await check(name)).status).toBe(Serving.SERVING);
    }
    await expect(check('nope')).rejects.toMatchObject({ code: status.NOT_FOUND });
    channel.release();
  });

  it('a stream that never ends is cut when the server stops', async () => {
    const server = await serve((s) => serveRegistries(s, emptyNs, registryChain([{ find: () => NEVER.pipe(finalize(() => undefined)) }])));
    const remote = registryChain([nseRegistryClient({ pool, url: server.urls[0]! })]);
    const ended = firstValueFrom(remote.find({ networkServiceEndpoint: nse(''), watch: true }, Context.background), { defaultValue: 'ended' }).catch(() => 'cut');
    await new Promise((r) => setTimeout(r, 50));
    await server.stop(50);
    expect(['ended', 'cut']).toContain(await ended);
  });
});

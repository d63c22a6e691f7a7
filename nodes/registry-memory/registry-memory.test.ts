import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import { toArray } from 'rxjs/operators';
import { afterEach, describe, expect, it } from 'vitest';
import { HealthCheckRequest, HealthService, HealthCheckResponse_ServingStatus as Serving } from '../../proto/gen/health.js';
import { NetworkServiceEndpoint, NetworkServiceEndpointQuery } from '../../proto/gen/registry.js';
import { Context } from '../../operators/core/context.js';
import { registryChain } from '../../operators/core/registry.js';
import { nseRegistryClient } from '../../operators/registry/grpcClient.js';
import { unixUrl } from '../../operators/tools/nsmUrl.js';
import { unaryCall } from '../../streams/grpc/call.js';
import { ProcessMesh } from '../../test/process/processMesh.js';

const bin = resolve(import.meta.dirname, '../../bin/nsm-rx.js');
let child: ChildProcess | undefined;
let dir: string | undefined;
let mesh: ProcessMesh | undefined;

afterEach(async () => {
  child?.kill('SIGKILL');
  await mesh?.dispose();
  mesh = undefined;
  if (dir && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
});

describe('nsm-rx registry-memory as its own OS process', () => {
  it('serves both registries and health on NSM_LISTEN_ON, expires NSEs after NSM_REGISTRATION_LIFETIME, stops on SIGTERM', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nsm-rx-registry-'));
    const socket = join(dir, 'registry.sock');
    // Secure as deployed: its SVID from nsm-rx identity; this test calls with the mesh's client identity.
    mesh = new ProcessMesh();
    const daemon = mesh.start(undefined, 'registry-memory', { NSM_LISTEN_ON: `unix://${socket}`, NSM_REGISTRATION_LIFETIME: '500ms', NSM_LOG_LEVEL: 'INFO' });
    child = daemon.child;
    const pool = await mesh.nscPool();
    await expect.poll(() => existsSync(socket), { timeout: 10_000 }).toBe(true);

    const url = unixUrl(socket);
    const channel = pool.acquire(url);
    const health = await firstValueFrom(unaryCall(channel, HealthService.check, HealthCheckRequest.fromPartial({ service: 'registry.NetworkServiceEndpointRegistry' }), Context.background));
    expect(health.status).toBe(Serving.SERVING);
    channel.release();

    const nse = registryChain([nseRegistryClient({ pool, url })]);
    const stored = await firstValueFrom(nse.register(NetworkServiceEndpoint.fromPartial({ name: 'nse-1', networkServiceNames: ['ns'], url: 'tcp://127.0.0.1:5006' }), Context.background));
    expect(stored.expirationTime).toBeDefined();
    const findAll = () => lastValueFrom(nse.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: {} }), Context.background).pipe(toArray()));
    expect((await findAll()).map((r) => r.networkServiceEndpoint?.name)).toEqual(['nse-1']);
    await expect.poll(async () => (await findAll()).length, { timeout: 3000, interval: 100 }).toBe(0);

    const exit = new Promise<number | null>((r) => child?.on('exit', r));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(existsSync(socket)).toBe(false);
    expect(daemon.out).toMatch(/"msg":"serving"/);
  });

  it('NSM_EXPIRE_PERIOD=1s as upstream deploys it: a registration outlives 1 s (the lifetime stays 1 min); upper-case and "_" names are accepted', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nsm-rx-registry-'));
    const socket = join(dir, 'registry.sock');
    mesh = new ProcessMesh();
    child = mesh.start(undefined, 'registry-memory', { NSM_LISTEN_ON: `unix://${socket}`, NSM_EXPIRE_PERIOD: '1s' }).child;
    const pool = await mesh.nscPool();
    await expect.poll(() => existsSync(socket), { timeout: 10_000 }).toBe(true);
    const nse = registryChain([nseRegistryClient({ pool, url: unixUrl(socket) })]);
    await firstValueFrom(nse.register(NetworkServiceEndpoint.fromPartial({ name: 'NSE_Upper-1', networkServiceNames: ['My_Service'], url: 'tcp://127.0.0.1:5006' }), Context.background));
    await new Promise((r) => setTimeout(r, 2500));
    const found = await lastValueFrom(nse.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: {} }), Context.background).pipe(toArray()));
    expect(found.map((r) => r.networkServiceEndpoint?.name)).toEqual(['NSE_Upper-1']);
  });

  it('refuses a bad NSM_EXPIRE_PERIOD, NSM_REGISTRATION_LIFETIME, NSM_REGISTRY_CLIENT_POLICIES and NSM_LISTEN_ON, naming each variable', async () => {
    child = spawn(process.execPath, [bin, 'registry-memory'], {
      env: { ...process.env, NSM_EXPIRE_PERIOD: 'soon', NSM_REGISTRATION_LIFETIME: 'long', NSM_REGISTRY_CLIENT_POLICIES: 'etc/nsm/opa/none/.*.rego', NSM_LISTEN_ON: 'http://x' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    expect(await new Promise<number | null>((r) => child?.on('exit', r))).toBe(2);
    expect(err).toMatch(/NSM_EXPIRE_PERIOD="soon": expected a Go duration/);
    expect(err).toMatch(/NSM_REGISTRATION_LIFETIME="long": expected a Go duration/);
    expect(err).toMatch(/NSM_REGISTRY_CLIENT_POLICIES="etc\/nsm\/opa\/none\/\.\*\.rego".*names no policy/);
    expect(err).toMatch(/NSM_LISTEN_ON="http:\/\/x"/);
  });
});

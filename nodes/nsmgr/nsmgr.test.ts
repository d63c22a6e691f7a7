import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import { toArray } from 'rxjs/operators';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint, NetworkServiceEndpointQuery } from '../../proto/gen/registry.js';
import { Context } from '../../operators/core/context.js';
import { registryChain } from '../../operators/core/registry.js';
import { nseRegistryClient } from '../../operators/registry/grpcClient.js';
import { parseNsmUrl, unixUrl } from '../../operators/tools/nsmUrl.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import { ProcessMesh } from '../../test/process/processMesh.js';
import { request } from '../../test/overload/mesh.js';
import { describeKernel, underlay, useNamespaces } from '../../test/kernel/namespaces.js';

let mesh: ProcessMesh;
let pool: ChannelPool;
let dir: string | undefined;

// Secure as deployed: every daemon's SVID from nsm-rx identity; this test calls with the mesh's client identity.
beforeEach(async () => {
  mesh = new ProcessMesh();
  pool = await mesh.nscPool();
});
afterEach(async () => {
  await mesh.dispose();
  if (dir && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
});

const freePort = () =>
  new Promise<number>((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => r(port));
    });
  });

const start = (component: string, env: Record<string, string>): ChildProcess => mesh.start(undefined, component, env).child;

describe('nsm-rx nsmgr with nsm-rx registry-memory, as OS processes', () => {
  it('registers a local NSE in the registry under the nsmgr URL and finds it with its real URL through the nsmgr', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nsm-rx-nsmgr-'));
    const registrySock = join(dir, 'registry.sock');
    const nsmgrSock = join(dir, 'nsm.io.sock');
    const port = await freePort();
    start('registry-memory', { NSM_LISTEN_ON: `unix://${registrySock}` });
    const manager = start('nsmgr', {
      NSM_NAME: 'nsmgr-1',
      NSM_LISTEN_ON: `unix://${nsmgrSock},tcp://127.0.0.1:${port}`,
      NSM_REGISTRY_URL: `unix://${registrySock}`,
      NSM_EXCLUDED_PREFIXES_FILE: join(dir, 'excluded_prefixes.yaml'),
    });
    await expect.poll(() => existsSync(registrySock) && existsSync(nsmgrSock), { timeout: 10_000 }).toBe(true);

    const viaNsmgr = registryChain([nseRegistryClient({ pool, url: unixUrl(nsmgrSock), dialTimeout: 5000 })]);
    const viaRegistry = registryChain([nseRegistryClient({ pool, url: unixUrl(registrySock), dialTimeout: 5000 })]);
    const real = `unix://${join(dir, 'nse.sock')}`;
    const reg = await firstValueFrom(viaNsmgr.register(NetworkServiceEndpoint.fromPartial({ name: 'nse-1', networkServiceNames: ['ns'], url: real }), Context.background));
    expect(reg.url).toBe(real);
    const find = (h: typeof viaNsmgr) =>
      lastValueFrom(h.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { name: 'nse-1' } }), Context.background).pipe(toArray()));
    expect((await find(viaRegistry)).map((r) => r.networkServiceEndpoint?.url)).toEqual([`tcp://127.0.0.1:${port}`]);
    expect((await find(viaNsmgr)).map((r) => r.networkServiceEndpoint?.url)).toEqual([real]);

    const exit = new Promise<number | null>((r) => manager.on('exit', r));
    manager.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(existsSync(nsmgrSock)).toBe(false);
  });
});

describe('NSM_MAX_REQUESTS_IN_FLIGHT (issue 21: a burst of Requests)', () => {
  it('Requests past the bound wait their turn when they have a deadline and are all answered; without one they are answered RESOURCE_EXHAUSTED at once, naming it; the nsmgr serves normally afterwards', async () => {
    const sock = (name: string) => mesh.sock(name);
    mesh.start(undefined, 'registry-memory', { NSM_LISTEN_ON: sock('registry') });
    mesh.start(undefined, 'nsmgr', { NSM_NAME: 'nsmgr', NSM_LISTEN_ON: sock('nsmgr'), NSM_REGISTRY_URL: sock('registry'), NSM_EXCLUDED_PREFIXES_FILE: join(mesh.dir, 'x.yaml'), NSM_MAX_REQUESTS_IN_FLIGHT: '2' });
    mesh.start(undefined, 'forwarder-noop', { NSM_NAME: 'forwarder', NSM_CONNECT_TO: sock('nsmgr'), NSM_LISTEN_ON: sock('forwarder') });
    mesh.start(undefined, 'nse-icmp-responder', { NSM_NAME: 'icmp-server', NSM_CONNECT_TO: sock('nsmgr') });
    const channel = pool.acquire(parseNsmUrl(sock('nsmgr')));
    const one = (id: string, deadlineMs?: number) => firstValueFrom(request(channel, id, deadlineMs)).then(() => 'OK', (e: { code?: number; message?: string }) => `${e.code}: ${e.message}`);
    await expect.poll(() => one('ready', 10_000), { timeout: 20_000, interval: 500 }).toBe('OK');
    // Sent together, they arrive while the first two still wait on the forwarder.
    const burst = (prefix: string, deadlineMs?: number) => Promise.all(Array.from({ length: 30 }, (_, i) => one(`${prefix}-${i}`, deadlineMs)));
    expect(await burst('timed', 20_000)).toEqual(Array.from({ length: 30 }, () => 'OK'));
    const untimed = await burst('untimed');
    expect(untimed.filter((o) => o === 'OK').length).toBeGreaterThanOrEqual(2);
    const refused = untimed.filter((o) => o !== 'OK');
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect(r).toMatch(/^8: nsmgr: 2 Requests in flight, at most 2 \(NSM_MAX_REQUESTS_IN_FLIGHT\); try again later$/);
    expect(await one('after', 10_000)).toBe('OK');
    channel.release();
  }, 60_000);
});

describeKernel('nsm-rx nsmgr listening on tcp://:port (all interfaces)', () => {
  const ns = useNamespaces();

  it('files local NSEs under tcp://<first non-loopback interface address>:port, as upstream cmd-nsmgr (listenonurl)', async () => {
    const [node, peer] = [ns.make('node'), ns.make('peer')];
    underlay(node, peer, '169.254.77.1/24', '169.254.77.2/24');
    const registrySock = join(mesh.dir, 'registry.sock');
    const nsmgrSock = join(mesh.dir, 'nsm.io.sock');
    mesh.start(node, 'registry-memory', { NSM_LISTEN_ON: `unix://${registrySock}` });
    mesh.start(node, 'nsmgr', { NSM_LISTEN_ON: `unix://${nsmgrSock},tcp://:5001`, NSM_REGISTRY_URL: `unix://${registrySock}`, NSM_EXCLUDED_PREFIXES_FILE: join(mesh.dir, 'excluded_prefixes.yaml') });
    await expect.poll(() => existsSync(registrySock) && existsSync(nsmgrSock), { timeout: 10_000 }).toBe(true);

    const viaNsmgr = registryChain([nseRegistryClient({ pool, url: unixUrl(nsmgrSock), dialTimeout: 5000 })]);
    const viaRegistry = registryChain([nseRegistryClient({ pool, url: unixUrl(registrySock), dialTimeout: 5000 })]);
    await firstValueFrom(viaNsmgr.register(NetworkServiceEndpoint.fromPartial({ name: 'nse-1', networkServiceNames: ['ns'], url: `unix://${join(mesh.dir, 'nse.sock')}` }), Context.background));
    const found = await lastValueFrom(viaRegistry.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { name: 'nse-1' } }), Context.background).pipe(toArray()));
    expect(found.map((r) => r.networkServiceEndpoint?.url)).toEqual(['tcp://169.254.77.1:5001']);
  });
});

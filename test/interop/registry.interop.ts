import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { firstValueFrom } from 'rxjs';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { Context } from '../../operators/core/context.js';
import { registryChain } from '../../operators/core/registry.js';
import { nseRegistryClient } from '../../operators/registry/grpcClient.js';
import { unixUrl, type NsmUrl } from '../../operators/tools/nsmUrl.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import { ProcessMesh, registeredEndpoints } from '../process/processMesh.js';
import { referenceBinaries } from './reference.js';

const run = promisify(execFile);

const bin = referenceBinaries();

/** The SPIFFE ID nsm-rx identity gives a workload of this name (NSM_NAME or executable). */
const idOf = (name: string) => `spiffe://nsm.local/uid/${process.getuid?.() ?? 0}/${name}`;

/** Upstream's registry client (one try, upstream's default client policies) registering `name` at `url`. */
async function goRegister(url: NsmUrl, name: string): Promise<{ spiffeId: string; registered: string; found: number; pathIds: string[] }> {
  const { stdout } = await run(join(bin as string, 'registry-client'), [url.href, name], { env: { ...process.env, SPIFFE_ENDPOINT_SOCKET: mesh!.identitySocket }, timeout: 30_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as { spiffeId: string; registered: string; found: number; pathIds: string[] };
}

const budget = () => Context.background.withDeadline(Date.now() + 5000);

const find = registeredEndpoints;
const names = async (pool: ChannelPool, url: NsmUrl) => (await find(pool, url)).map((nse) => nse.name);

/** One Register of `name` as the pool's identity (the nsc's). */
const registerAs = (pool: ChannelPool, url: NsmUrl, name: string) =>
  firstValueFrom(registryChain([nseRegistryClient({ pool, url })]).register(NetworkServiceEndpoint.fromPartial({ name, networkServiceNames: ['icmp-responder'], url: 'tcp://127.0.0.1:5555' }), budget()));

let mesh: ProcessMesh | undefined;
afterEach(async () => {
  await mesh?.dispose();
  mesh = undefined;
});

describe.skipIf(bin === undefined)('interop with upstream Go NSM code (sdk v1.14.5)', () => {
  it('an upstream registry client gets its SVID from nsm-rx identity and registers over mTLS with spiffejwt tokens in nsm-rx registry-memory (default registry policies; the answer passes upstream’s client policies); NSM_EXPIRE_PERIOD=1s keeps it beyond 1 s; another SPIFFE ID cannot take the name', async () => {
    mesh = new ProcessMesh();
    const pool = await mesh.nscPool();
    const socket = join(mesh.dir, 'registry.sock');
    mesh.start(undefined, 'registry-memory', { NSM_LISTEN_ON: `unix://${socket}`, NSM_EXPIRE_PERIOD: '1s' });
    await expect.poll(() => existsSync(socket), { timeout: 10_000 }).toBe(true);
    const result = await goRegister(unixUrl(socket), 'go-nse');
    expect(result).toMatchObject({ spiffeId: idOf('registry-client'), registered: 'go-nse', found: 1, pathIds: [idOf('registry-client'), expect.stringMatching(/^spiffe:\/\/nsm\.local\//)] });
    // Upstream's cmd-registry-memory deploys NSM_EXPIRE_PERIOD=1s: that is no lifetime (upstream keeps NSEs 1 min).
    await new Promise((r) => setTimeout(r, 2500));
    expect(await names(pool, unixUrl(socket))).toEqual(['go-nse']);
    await expect(registerAs(pool, unixUrl(socket), 'go-nse')).rejects.toMatchObject({ code: 7, message: expect.stringContaining('client_allowed') });
  });

  it('nsm-rx nse-icmp-responder registers its service and itself in upstream registry-memory (its OPA policies: tokens, prev_token_signed, client_allowed)', async () => {
    mesh = new ProcessMesh();
    await mesh.nscPool(); // brings nsm-rx identity up (and waits until it serves)
    const socket = join(mesh.dir, 'go-registry.sock');
    const registry = mesh.run(undefined, [join(bin as string, 'registry-memory'), `unix://${socket}`], {});
    await expect.poll(() => existsSync(socket), { timeout: 20_000 }).toBe(true);
    const nse = mesh.start(undefined, 'nse-icmp-responder', { NSM_NAME: 'icmp-rx', NSM_CONNECT_TO: `unix://${socket}`, NSM_LOG_LEVEL: 'INFO' });
    // It reports serving once both Registers were answered (the NS, then the NSE).
    await expect.poll(() => nse.out, { timeout: 20_000 }).toMatch(/"msg":"serving".*"services":\["icmp-responder"\]/);
    expect(registry.out).not.toMatch(/policy failed/);
  });

  it('nsm-rx forwarder-noop and nse-icmp-responder register through upstream nsmgr into nsm-rx registry-memory: the nsmgr files them under its own URL (localbypass) and the registry path makes the NSE the owner; another registrant through the same nsmgr is refused', async () => {
    mesh = new ProcessMesh();
    const pool = await mesh.nscPool(); // brings nsm-rx identity up; this test reads the registry as the nsc
    const registry = join(mesh.dir, 'registry.sock');
    const nsmgr = join(mesh.dir, 'nsmgr.sock');
    mesh.start(undefined, 'registry-memory', { NSM_LISTEN_ON: `unix://${registry}` });
    await expect.poll(() => existsSync(registry), { timeout: 10_000 }).toBe(true);
    mesh.run(undefined, [join(bin as string, 'nsmgr'), 'nsmgr', `unix://${nsmgr}`, `unix://${nsmgr}`, `unix://${registry}`], {});
    await expect.poll(() => existsSync(nsmgr), { timeout: 20_000 }).toBe(true);
    mesh.start(undefined, 'forwarder-noop', { NSM_NAME: 'forwarder', NSM_CONNECT_TO: `unix://${nsmgr}`, NSM_LISTEN_ON: mesh.sock('forwarder') });
    mesh.start(undefined, 'nse-icmp-responder', { NSM_NAME: 'icmp-server', NSM_CONNECT_TO: `unix://${nsmgr}` });
    const registered = () => find(pool, unixUrl(registry)).then((all) => all.map((nse) => `${nse.name} ${nse.url}`).sort());
    await expect.poll(registered, { timeout: 20_000, interval: 250 }).toEqual([`forwarder unix://${nsmgr}`, `icmp-server unix://${nsmgr}`]);
    const icmp = (await find(pool, unixUrl(registry))).find((nse) => nse.name === 'icmp-server');
    expect(icmp?.pathIds).toEqual([idOf('icmp-server'), idOf('nsmgr'), expect.stringMatching(/^spiffe:\/\/nsm\.local\//)]);
    await expect(goRegister(unixUrl(nsmgr), 'icmp-server')).rejects.toThrow(/PermissionDenied[\s\S]*client_allowed/);
  });

  it('an upstream NSE registers through nsm-rx nsmgr A, then (its pod moved) through nsm-rx nsmgr B, into upstream registry-memory: accepted both times, answers pass upstream’s client policies; another SPIFFE ID is refused by the upstream registry', async () => {
    mesh = new ProcessMesh();
    const pool = await mesh.nscPool();
    const registry = join(mesh.dir, 'go-registry.sock');
    mesh.run(undefined, [join(bin as string, 'registry-memory'), `unix://${registry}`], {});
    await expect.poll(() => existsSync(registry), { timeout: 20_000 }).toBe(true);
    const nsmgrs = ['nsmgr-a', 'nsmgr-b'].map((name) => {
      const socket = join(mesh!.dir, `${name}.sock`);
      mesh!.start(undefined, 'nsmgr', { NSM_NAME: name, NSM_LISTEN_ON: `unix://${socket}`, NSM_REGISTRY_URL: `unix://${registry}` });
      return socket;
    });
    for (const socket of nsmgrs) await expect.poll(() => existsSync(socket), { timeout: 10_000 }).toBe(true);
    const [a, b] = nsmgrs as [string, string];
    expect(await goRegister(unixUrl(a), 'go-nse')).toMatchObject({ registered: 'go-nse', pathIds: [idOf('registry-client'), idOf('nsmgr-a'), expect.any(String)] });
    expect(await goRegister(unixUrl(b), 'go-nse')).toMatchObject({ registered: 'go-nse', pathIds: [idOf('registry-client'), idOf('nsmgr-b'), expect.any(String)] });
    await expect(registerAs(pool, unixUrl(registry), 'go-nse')).rejects.toMatchObject({ code: 7 });
  });
});

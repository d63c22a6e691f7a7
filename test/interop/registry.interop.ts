import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { lastValueFrom, toArray } from 'rxjs';
import { NetworkServiceEndpointQuery } from '../../proto/gen/registry.js';
import { Context } from '../../operators/core/context.js';
import { registryChain } from '../../operators/core/registry.js';
import { nseRegistryClient } from '../../operators/registry/grpcClient.js';
import { unixUrl } from '../../operators/tools/nsmUrl.js';
import { ProcessMesh } from '../process/processMesh.js';
import { referenceBinaries } from './reference.js';

const run = promisify(execFile);

const bin = referenceBinaries();

let mesh: ProcessMesh | undefined;
afterEach(async () => {
  await mesh?.dispose();
  mesh = undefined;
});

describe.skipIf(bin === undefined)('interop with upstream Go NSM code (sdk v1.14.5)', () => {
  it('an upstream registry client gets its SVID from nsm-rx identity and registers over mTLS with spiffejwt tokens in nsm-rx registry-memory (default registry policies)', async () => {
    mesh = new ProcessMesh();
    const socket = join(mesh.dir, 'registry.sock');
    mesh.start(undefined, 'registry-memory', { NSM_LISTEN_ON: `unix://${socket}` });
    await expect.poll(() => existsSync(socket), { timeout: 10_000 }).toBe(true);
    const { stdout } = await run(join(bin as string, 'registry-client'), [`unix://${socket}`, 'go-nse'], {
      env: { ...process.env, SPIFFE_ENDPOINT_SOCKET: mesh.identitySocket },
      timeout: 30_000,
    });
    const result = JSON.parse(stdout.trim().split('\n').at(-1) as string) as { spiffeId: string; registered: string; found: number };
    expect(result).toMatchObject({ spiffeId: `spiffe://nsm.local/uid/${process.getuid?.() ?? 0}/registry-client`, registered: 'go-nse', found: 1 });
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

  it('nsm-rx forwarder-noop and nse-icmp-responder register through upstream nsmgr into nsm-rx registry-memory: the nsmgr files them under its own URL (localbypass)', async () => {
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
    const nses = registryChain([nseRegistryClient({ pool, url: unixUrl(registry) })]);
    const registered = () =>
      lastValueFrom(nses.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: {} }), Context.background.withDeadline(Date.now() + 5000)).pipe(toArray())).then((all) =>
        all.map((r) => `${r.networkServiceEndpoint?.name} ${r.networkServiceEndpoint?.url}`).sort(),
      );
    await expect.poll(registered, { timeout: 20_000, interval: 250 }).toEqual([`forwarder unix://${nsmgr}`, `icmp-server unix://${nsmgr}`]);
  });
});

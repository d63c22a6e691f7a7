import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeKernel, ipJson, pings, useNamespaces } from '../kernel/namespaces.js';
import { examplesInRepo, packedProject } from '../package/packedProject.js';
import { inCheckout, stop } from './processMesh.js';
import { useProcessMesh } from './useProcessMesh.js';

const mesh = useProcessMesh();
const repo = dirname(inCheckout('package.json'));
let packed: ReturnType<typeof packedProject> | undefined;
afterAll(() => packed?.remove());

const linksIn = (ns: string) => ipJson<{ ifname: string }[]>(ns, ['link', 'show']).map((l) => l.ifname);

describeKernel('examples/, run as a user runs them against a mesh of processes', () => {
  const ns = useNamespaces();

  const where = { 'in the repository': () => examplesInRepo, 'installed from the packed tarball (npm pack, npm install in a fresh project)': () => (packed ??= packedProject()).dir };
  for (const [label, examples] of Object.entries(where)) {
    it(`${label}: the marble test passes, the types check; the custom endpoint greets the client, which follows a heal; the monitor prints the events`, async () => {
      const dir = examples();
      const marbles = spawnSync(process.execPath, ['--test', join(dir, 'custom-endpoint.test.mjs')], { encoding: 'utf8' });
      expect(marbles.stdout).toContain('# pass 2');
      expect(marbles.status).toBe(0);
      // The type declarations: a TypeScript user's file checks, strict.
      const tsc = spawnSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node', '--typeRoots', join(repo, 'node_modules/@types'), join(dir, 'typed.ts')], { cwd: dir, encoding: 'utf8' });
      expect(tsc.stdout).toBe('');
      expect(tsc.status).toBe(0);

      const [node, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
      const { forwarder } = mesh().node(node, 0);
      const nsmgr = { NSM_CONNECT_TO: mesh().sock('nsmgr-0') };
      const nse = mesh().run(nseNs, [process.execPath, join(dir, 'custom-endpoint.mjs')], nsmgr);
      await expect.poll(() => nse.out, { timeout: 20_000 }).toContain('registered greeter for greeting');
      const monitor = mesh().run(undefined, [process.execPath, join(dir, 'monitor.mjs')], nsmgr);
      const client = mesh().run(nscNs, [process.execPath, join(dir, 'client.mjs'), 'kernel://greeting/nsm-1'], nsmgr);
      await expect.poll(() => client.out, { timeout: 30_000 }).toContain('connected app-0 via app → nsmgr-0 → forwarder-0 → greeter; hello from greeter');
      expect(linksIn(nscNs)).toContain('nsm-1');
      expect(pings(nscNs, '169.254.2.0')).toBe(true);
      // As an UPDATE, or in the first event when the monitor began watching after the Request.
      await expect.poll(() => monitor.out, { timeout: 10_000 }).toMatch(/(INITIAL_STATE_TRANSFER|UPDATE) app-0 UP app → nsmgr-0 → forwarder-0 → greeter/);

      await stop(forwarder, 'SIGKILL');
      mesh().forwarder(node, 0, 'forwarder-new');
      await expect.poll(() => client.out, { timeout: 30_000 }).toContain('healed: now via app → nsmgr-0 → forwarder-new → greeter (was app → nsmgr-0 → forwarder-0 → greeter)');
      await expect.poll(() => monitor.out, { timeout: 10_000 }).toMatch(/UPDATE app-0 [A-Z]+ app → nsmgr-0 → forwarder-new → greeter/);

      // SIGTERM: the client Closes and exits (nothing of it left running), the endpoint unregisters.
      expect(await stop(client)).toBe(0);
      expect(client.out).toContain('closed');
      await expect.poll(() => linksIn(nscNs), { timeout: 10_000 }).not.toContain('nsm-1');
      await expect.poll(() => monitor.out, { timeout: 10_000 }).toMatch(/DELETE app-0/);
      expect(await stop(monitor)).toBe(0);
      expect(await stop(nse)).toBe(0);
      expect(nse.out).toContain('unregistered');
    }, 120_000);
  }
});

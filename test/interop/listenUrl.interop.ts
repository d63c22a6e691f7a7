import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { NetworkServiceEndpoint, NetworkServiceEndpointQuery } from '../../proto/gen/registry.js';
import { Context } from '../../operators/core/context.js';
import { registryChain } from '../../operators/core/registry.js';
import { nseRegistryClient } from '../../operators/registry/grpcClient.js';
import { unixUrl } from '../../operators/tools/nsmUrl.js';
import { describeKernel, underlay, useNamespaces } from '../kernel/namespaces.js';
import { ProcessMesh } from '../process/processMesh.js';
import { referenceBinaries } from './reference.js';

const bin = referenceBinaries();

let mesh: ProcessMesh | undefined;
afterEach(async () => {
  await mesh?.dispose();
  mesh = undefined;
});

describeKernel('interop: the URL an nsmgr advertises for a wildcard listen URL', () => {
  const ns = useNamespaces();

  it.skipIf(bin === undefined)(
    'upstream nsmgr (listenonurl, as cmd-nsmgr) and nsm-rx nsmgr, both listening on tcp://:port and tcp://0.0.0.0:port in a netns with a 169.254 veth, file their NSEs under the same host',
    async () => {
      mesh = new ProcessMesh();
      const pool = await mesh.nscPool();
      const [node, peer] = [ns.make('node'), ns.make('peer')];
      underlay(node, peer, '169.254.78.1/24', '169.254.78.2/24');
      const registry = join(mesh.dir, 'registry.sock');
      mesh.start(node, 'registry-memory', { NSM_LISTEN_ON: `unix://${registry}` });
      await expect.poll(() => existsSync(registry), { timeout: 10_000 }).toBe(true);

      /** Each nsmgr on its own unix socket and tcp port; `host` is the listen host ('' or 0.0.0.0). */
      const upstream = (name: string, host: string, port: number): string => {
        const sock = join(mesh!.dir, `${name}.sock`);
        mesh!.run(node, [join(bin as string, 'nsmgr'), name, `unix://${sock},tcp://${host}:${port}`, `tcp://${host}:${port}`, `unix://${registry}`], {});
        return sock;
      };
      const ours = (name: string, host: string, port: number): string => {
        const sock = join(mesh!.dir, `${name}.sock`);
        mesh!.start(node, 'nsmgr', { NSM_NAME: name, NSM_LISTEN_ON: `unix://${sock},tcp://${host}:${port}`, NSM_REGISTRY_URL: `unix://${registry}`, NSM_EXCLUDED_PREFIXES_FILE: join(mesh!.dir, 'none.yaml') });
        return sock;
      };
      const managers = {
        'go-empty': upstream('go-empty', '', 5101),
        'rx-empty': ours('rx-empty', '', 5102),
        'go-any': upstream('go-any', '0.0.0.0', 5103),
        'rx-any': ours('rx-any', '0.0.0.0', 5104),
      };
      await expect.poll(() => Object.values(managers).every(existsSync), { timeout: 20_000 }).toBe(true);

      for (const [name, sock] of Object.entries(managers)) {
        const via = registryChain([nseRegistryClient({ pool, url: unixUrl(sock), dialTimeout: 5000 })]);
        await firstValueFrom(via.register(NetworkServiceEndpoint.fromPartial({ name: `nse-${name}`, networkServiceNames: ['ns'], url: `unix://${join(mesh.dir, `nse-${name}.sock`)}` }), Context.background.withDeadline(Date.now() + 15_000)));
      }
      const nses = registryChain([nseRegistryClient({ pool, url: unixUrl(registry) })]);
      const found = await lastValueFrom(nses.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: {} }), Context.background.withDeadline(Date.now() + 5000)).pipe(toArray()));
      const urls = Object.fromEntries(found.map((r) => [r.networkServiceEndpoint?.name, r.networkServiceEndpoint?.url]));
      expect(urls).toEqual({
        'nse-go-empty': 'tcp://169.254.78.1:5101',
        'nse-rx-empty': 'tcp://169.254.78.1:5102',
        // Upstream fills only an empty host: 0.0.0.0 is advertised as it is, by both.
        'nse-go-any': 'tcp://0.0.0.0:5103',
        'nse-rx-any': 'tcp://0.0.0.0:5104',
      });
    },
  );
});

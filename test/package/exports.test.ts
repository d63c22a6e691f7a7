import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inCheckout } from '../process/processMesh.js';

const repo = dirname(inCheckout('package.json'));

/** What Node itself makes of `specifiers` imported by a module of this package (self-reference through its exports map; needs npm run build). */
function imported(specifiers: string[]): Record<string, string[] | string> {
  const script = `const out = {}; for (const s of ${JSON.stringify(specifiers)}) { try { out[s] = Object.keys(await import(s)).sort(); } catch (e) { out[s] = e.code ?? String(e); } } console.log(JSON.stringify(out));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repo, encoding: 'utf8' });
  return JSON.parse(run.stdout) as Record<string, string[] | string>;
}

describe('the package’s exports map: three entry points, nothing else', () => {
  it('nsm-rx, nsm-rx/client and nsm-rx/testing export their surface and no more', () => {
    expect(imported(['nsm-rx', 'nsm-rx/client', 'nsm-rx/testing'])).toEqual({
      'nsm-rx': ['Connection', 'ConnectionEvent', 'ConnectionEventType', 'Context', 'ContextKey', 'NetworkService', 'NetworkServiceEndpoint', 'NetworkServiceRequest', 'NsmError', 'State', 'asElement', 'chain', 'client', 'deadlineExceeded', 'endpoint', 'internal', 'invalidArgument', 'notFound', 'permissionDenied', 'startEndpoint', 'tail', 'unavailable'],
      'nsm-rx/client': ['connect'],
      'nsm-rx/testing': ['Mesh', 'Sandbox', 'SandboxClient', 'SandboxNode', 'fakeNext', 'marbles'],
    });
  });

  it('no internal module is reachable: not by its source path, not under dist/, not the CLI, not the tests’ leak checks', () => {
    const internals = ['nsm-rx/dist/operators/tools/log.js', 'nsm-rx/operators/tools/log.js', 'nsm-rx/operators/tools/log', 'nsm-rx/dist/nodes/cli/main.js', 'nsm-rx/nodes/cli/main.js', 'nsm-rx/dist/test/sandbox/leaks.js', 'nsm-rx/dist/nodes/lib/embedded.js', 'nsm-rx/lib/embedded', 'nsm-rx/streams/grpc/channelPool.js'];
    const result = imported(internals);
    for (const s of internals) expect([s, result[s]]).toEqual([s, 'ERR_PACKAGE_PATH_NOT_EXPORTED']);
  });
});

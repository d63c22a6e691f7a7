import { join } from 'node:path';
import { expect, it } from 'vitest';
import { describeKernel, ipJson, pings, useNamespaces } from '../kernel/namespaces.js';
import { nscEvents, stop } from './processMesh.js';
import { useProcessMesh } from './useProcessMesh.js';

const linksIn = (ns: string) => ipJson<{ ifname: string }[]>(ns, ['link', 'show']).filter((l) => l.ifname !== 'lo').map((l) => l.ifname);

describeKernel('nsm-rx node: nsmgr and kernel forwarder in one process', () => {
  const ns = useNamespaces();
  const mesh = useProcessMesh();

  it('an nsc and an NSE connect through it: path nsc → nsmgr → forwarder → NSE, ping both ways, SIGTERM closes, the node stops with 0; the forwarder warmed up at start', async () => {
    const [host, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    mesh().start(host, 'registry-memory', { NSM_LISTEN_ON: mesh().sock('registry') });
    const node = mesh().start(host, 'node', {
      NSM_NAME: 'nsmgr-0',
      NSM_FORWARDER_NAME: 'forwarder-0',
      NSM_LISTEN_ON: mesh().sock('nsmgr-0'),
      NSM_REGISTRY_URL: mesh().sock('registry'),
      NSM_EXCLUDED_PREFIXES_FILE: join(mesh().dir, 'excluded-0.yaml'),
      NSM_LOG_LEVEL: 'DEBUG',
    });
    mesh().nse(nseNs, 0);
    const client = mesh().nsc(nscNs);
    await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 20_000 }).toBe(1);

    const conn = nscEvents(client, 'connected')[0]!;
    expect(conn.path.pathSegments.map((s) => s.name)).toEqual(['nsc', 'nsmgr-0', 'forwarder-0', 'icmp-responder']);
    expect(conn.context.ipContext.dstIpAddrs).toEqual(['169.254.1.0/32']);
    expect(linksIn(nscNs)).toEqual(['nsm-1']);
    expect(pings(nscNs, '169.254.1.0')).toBe(true);
    expect(pings(nseNs, '169.254.1.1')).toBe(true);

    expect(await stop(client)).toBe(0);
    expect(linksIn(nscNs)).toEqual([]);
    expect(linksIn(nseNs)).toEqual([]);
    // The forwarder half warmed up at start: a Request to itself that ended at discover.
    const warmedUp = node.out.split('\n').filter((l) => l.includes('"msg":"warmed up"')).map((l) => JSON.parse(l) as { request: string });
    expect(warmedUp.map((w) => w.request)).toEqual(['network service "nsm-rx-forwarder-warm-up" is not found']);
    expect(await stop(node)).toBe(0);
    expect(node.out).not.toMatch(/unregister failed|timed out/);
  });
});

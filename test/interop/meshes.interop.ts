import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { describeKernel, ipJson, pings, tcpTransfer, useNamespaces } from '../kernel/namespaces.js';
import { nscEvents, stop, type Daemon, type NscConnection } from '../process/processMesh.js';
import { useProcessMesh } from '../process/useProcessMesh.js';
import { referenceBinaries } from './reference.js';

const bin = referenceBinaries();

const mesh = useProcessMesh();

const linksIn = (ns: string) => ipJson<{ ifname: string }[]>(ns, ['link', 'show']).filter((l) => l.ifname !== 'lo').map((l) => l.ifname);
const address = (cidr: string | undefined) => (cidr ?? '').replace(/\/\d+$/, '');
const unixPath = (url: string) => url.replace(/^unix:\/\//, '');

/** An upstream reference program (test/interop/go) inside netns `ns`, its SVID from the mesh's nsm-rx identity. */
function upstream(ns: string | undefined, program: string, env: Record<string, string>, args: string[] = []): Daemon {
  return mesh().run(ns, [join(bin as string, program), ...args], { NSM_LOG_LEVEL: 'INFO', ...env });
}

/** Upstream's nsmgr on a unix socket, with `registry` as its registry; answers once it serves. */
async function upstreamNsmgr(ns: string, registry: string, env: Record<string, string> = {}): Promise<string> {
  const url = mesh().sock('nsmgr-0');
  upstream(ns, 'nsmgr', env, ['nsmgr-0', url, url, registry]);
  await expect.poll(() => existsSync(unixPath(url)), { timeout: 20_000 }).toBe(true);
  return url;
}

/** Upstream's memory registry on a unix socket; answers once it serves. */
async function upstreamRegistry(ns: string): Promise<string> {
  const url = mesh().sock('registry');
  upstream(ns, 'registry-memory', {}, [url]);
  await expect.poll(() => existsSync(unixPath(url)), { timeout: 20_000 }).toBe(true);
  return url;
}

const nseEnv = (nsmgr: string, name = 'icmp-responder') => ({ NSM_NAME: name, NSM_CONNECT_TO: nsmgr, NSM_SERVICE_NAMES: 'icmp-responder', NSM_CIDR_PREFIX: '169.254.1.0/24' });
const nscEnv = (nsmgr: string) => ({ NSM_NAME: 'nsc', NSM_CONNECT_TO: nsmgr, NSM_NETWORK_SERVICES: 'kernel://icmp-responder/nsm-1' });

/** The client connected through the path `names`; ping and 1 MB of TCP both ways over it. */
async function carriesTraffic(client: Daemon, nscNs: string, nseNs: string, names: string[]): Promise<void> {
  await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 30_000 }).toBeGreaterThan(0);
  const conn = nscEvents(client, 'connected')[0] as NscConnection;
  expect(conn.path.pathSegments.map((s) => s.name)).toEqual(names);
  const [src, dst] = [address(conn.context.ipContext.srcIpAddrs[0]), address(conn.context.ipContext.dstIpAddrs[0])];
  expect(dst).toMatch(/^169\.254\.1\.\d+$/);
  expect(linksIn(nscNs)).toEqual(['nsm-1']);
  expect(linksIn(nseNs)).toHaveLength(1);
  expect(pings(nscNs, dst)).toBe(true);
  expect(pings(nseNs, src)).toBe(true);
  expect(await tcpTransfer(nscNs, nseNs, dst, 1 << 20)).toBe(1 << 20);
  expect(await tcpTransfer(nseNs, nscNs, src, 1 << 20)).toBe(1 << 20);
}

/** SIGTERM closes the client's connection: it exits 0 and every interface goes from both namespaces. */
async function closes(client: Daemon, nscNs: string, nseNs: string): Promise<void> {
  expect(await stop(client)).toBe(0);
  await expect.poll(() => [...linksIn(nscNs), ...linksIn(nseNs)], { timeout: 10_000 }).toEqual([]);
}

describeKernel('mixed meshes: nsm-rx with upstream NSM programs (sdk v1.14.5), every process real, in network namespaces', () => {
  if (bin === undefined) return;
  const ns = useNamespaces();

  it('(a) upstream nsc → nsm-rx nsmgr + forwarder-kernel → upstream nse-icmp-responder: the netns and NSE socket come as grpcfd inode:// URLs, found through /proc', async () => {
    const [host, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    mesh().node(host, 0);
    await mesh().nscPool(); // nsm-rx identity serves before the Go programs ask it
    upstream(nseNs, 'nse-icmp-responder', { ...nseEnv(mesh().sock('nsmgr-0')), NSM_LISTEN_ON: mesh().sock('go-nse') });
    const client = upstream(nscNs, 'nsc', nscEnv(mesh().sock('nsmgr-0')));
    await carriesTraffic(client, nscNs, nseNs, ['nsc', 'nsmgr-0', 'forwarder-0', 'icmp-responder']);
    await closes(client, nscNs, nseNs);
  });

  it('(b) nsm-rx nsc → upstream nsmgr + nsm-rx forwarder-kernel → nsm-rx NSE (nsm-rx registry-memory): the nsc names its netns by a /proc path, which upstream sendfd passes on as an fd', async () => {
    const [host, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    // Tokens of 50 s (above 3 × the 15 s registry call budget, or the registry expires
    // registrations before their refresh, as upstream's): the hops expire a connection within
    // 50 s of its last refresh.
    const tokens = { NSM_MAX_TOKEN_LIFETIME: '50s' };
    mesh().start(host, 'registry-memory', { NSM_LISTEN_ON: mesh().sock('registry') });
    const url = await upstreamNsmgr(host, mesh().sock('registry'), tokens);
    mesh().start(host, 'forwarder-kernel', { NSM_NAME: 'forwarder-0', NSM_CONNECT_TO: url, NSM_LISTEN_ON: mesh().sock('forwarder-0') });
    mesh().start(nseNs, 'nse-icmp-responder', nseEnv(url));
    const client = mesh().start(nscNs, 'nsc', { ...nscEnv(url), ...tokens });
    await carriesTraffic(client, nscNs, nseNs, ['nsc', 'nsmgr-0', 'forwarder-0', 'icmp-responder']);
    // What cannot work without fd passing: upstream's nsmgr Closes with the connection it keeps,
    // whose netns its sendfd made an inode:// URL, and its recvfd waits for that fd from us. The
    // nsc's Close times out; the hops expire the connection with its last token.
    await stop(client);
    expect(client.out).toMatch(/shutdown timed out/);
    await expect.poll(() => [...linksIn(nscNs), ...linksIn(nseNs)], { timeout: 60_000, interval: 1000 }).toEqual([]);
  });

  it('(c) upstream nsc → upstream nsmgr + nsm-rx forwarder-kernel → upstream NSE registered through that nsmgr in nsm-rx registry-memory', async () => {
    const [host, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    mesh().start(host, 'registry-memory', { NSM_LISTEN_ON: mesh().sock('registry') });
    const nsmgr = await upstreamNsmgr(host, mesh().sock('registry'));
    mesh().start(host, 'forwarder-kernel', { NSM_NAME: 'forwarder-0', NSM_CONNECT_TO: nsmgr, NSM_LISTEN_ON: mesh().sock('forwarder-0') });
    const nse = upstream(nseNs, 'nse-icmp-responder', { ...nseEnv(nsmgr), NSM_LISTEN_ON: mesh().sock('go-nse') });
    await expect.poll(() => nse.out, { timeout: 20_000 }).toMatch(/"event":"registered"/);
    const client = upstream(nscNs, 'nsc', nscEnv(nsmgr));
    await carriesTraffic(client, nscNs, nseNs, ['nsc', 'nsmgr-0', 'forwarder-0', 'icmp-responder']);
    await closes(client, nscNs, nseNs);
  });

  it('(d) nsm-rx nsc → nsm-rx nsmgr + forwarder-kernel → nsm-rx NSE registered in upstream registry-memory', async () => {
    const [host, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    await mesh().nscPool();
    const registry = await upstreamRegistry(host);
    mesh().start(host, 'nsmgr', { NSM_NAME: 'nsmgr-0', NSM_LISTEN_ON: mesh().sock('nsmgr-0'), NSM_REGISTRY_URL: registry });
    mesh().forwarder(host, 0, 'forwarder-0');
    mesh().nse(nseNs, 0);
    const client = mesh().nsc(nscNs);
    await carriesTraffic(client, nscNs, nseNs, ['nsc', 'nsmgr-0', 'forwarder-0', 'icmp-responder']);
    await closes(client, nscNs, nseNs);
  });
});

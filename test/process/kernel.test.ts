import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeKernel, ipJson, pings, tcpTransfer, useNamespaces } from '../kernel/namespaces.js';
import { inCheckout, nscEvents, pinger, ProcessMesh, stop, type Daemon } from './processMesh.js';
import { remoteConnection, remoteNsc, twoNodes } from './remoteConnection.js';
import { ovsMissing } from '../ovs/ovsdbServer.js';
import { useOvsForwarders } from '../ovs/ovsForwarders.js';

let mesh: ProcessMesh;
beforeEach(() => {
  mesh = new ProcessMesh();
});
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') console.error(mesh.dump()); // what every daemon said
  await mesh.dispose();
});

const linksIn = (ns: string) => ipJson<{ ifname: string }[]>(ns, ['link', 'show']).filter((l) => l.ifname !== 'lo').map((l) => l.ifname);
const events = nscEvents;

/** The client has exactly nsm-1 and the endpoint one interface; SIGTERM closes and removes both. */
async function closesCleanly(client: Daemon, nscNs: string, nseNs: string): Promise<void> {
  expect(linksIn(nscNs)).toEqual(['nsm-1']);
  expect(linksIn(nseNs)).toHaveLength(1);
  expect(await stop(client)).toBe(0);
  expect(linksIn(nscNs)).toEqual([]);
  expect(linksIn(nseNs)).toEqual([]);
}

/** Every test below, on the forwarder `kind` (forwarder-ovs: an OVS of its own per node). */
const e2e = (kind: 'forwarder-kernel' | 'forwarder-ovs') => () => {
  const ns = useNamespaces();
  if (kind === 'forwarder-ovs') {
    const ovs = useOvsForwarders();
    beforeEach(() => {
      mesh.forwarderOf = ovs.forNode;
    });
  }

  /** One node (registry, nsmgr, forwarder-kernel), an NSE and an nsc, each in its own netns; the nsc connected. */
  async function connectedLocally(): Promise<{ host: string; nscNs: string; nseNs: string; forwarder: Daemon; client: Daemon }> {
    const [host, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    const { forwarder } = mesh.node(host, 0);
    mesh.nse(nseNs, 0);
    const client = mesh.nsc(nscNs);
    await expect.poll(() => events(client, 'connected').length, { timeout: 20_000 }).toBe(1);
    return { host, nscNs, nseNs, forwarder, client };
  }

  it('local: nsc and NSE namespaces on one node; ping and 4 MB TCP both ways; SIGTERM closes and removes every link', async () => {
    const { nscNs, nseNs, client } = await connectedLocally();
    const conn = events(client, 'connected')[0]!;
    expect(conn.path.pathSegments.map((s) => s.name)).toEqual(['nsc', 'nsmgr-0', 'forwarder-0', 'icmp-responder']);
    expect(conn.context.ipContext.dstIpAddrs).toEqual(['169.254.1.0/32']);
    expect(conn.context.ipContext.srcIpAddrs).toEqual(['169.254.1.1/32']);
    expect(linksIn(nscNs)).toEqual(['nsm-1']);
    expect(pings(nscNs, '169.254.1.0')).toBe(true);
    expect(pings(nseNs, '169.254.1.1')).toBe(true);
    expect(await tcpTransfer(nscNs, nseNs, '169.254.1.0', 4 << 20)).toBe(4 << 20);
    expect(await tcpTransfer(nseNs, nscNs, '169.254.1.1', 4 << 20)).toBe(4 << 20);

    expect(await stop(client)).toBe(0);
    expect(events(client, 'closed')).toHaveLength(1);
    expect(linksIn(nscNs)).toEqual([]);
    expect(linksIn(nseNs)).toEqual([]);
  });

  it('an nsc in a PID namespace of its own (as in a Pod) names its netns by identity: the host-PID forwarder finds it; ping passes', async () => {
    const [host, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    mesh.node(host, 0);
    mesh.nse(nseNs, 0);
    const client = mesh.run(nscNs, ['unshare', '--pid', '--fork', '--kill-child', process.execPath, inCheckout('bin/nsm-rx.js'), 'nsc'], { NSM_NAME: 'nsc', NSM_CONNECT_TO: mesh.sock('nsmgr-0'), NSM_NETWORK_SERVICES: 'kernel://icmp-responder/nsm-1' });
    await expect.poll(() => events(client, 'connected').length, { timeout: 20_000 }).toBe(1);
    expect(linksIn(nscNs)).toEqual(['nsm-1']);
    expect(pings(nscNs, '169.254.1.0')).toBe(true);
  });

  it('remote: two node namespaces joined by an underlay veth, nsmgrs on TCP across it; the connection runs over VXLAN; ping and TCP pass', async () => {
    const { nscNs, nseNs, client } = await remoteConnection(mesh, ns);
    // The kernel forwarder moves the VXLAN device itself into the client netns; OVS joins a veth to its bridge.
    expect(ipJson<{ linkinfo?: { info_kind?: string } }[]>(nscNs, ['-d', 'link', 'show', 'nsm-1'])[0]?.linkinfo?.info_kind).toBe(kind === 'forwarder-kernel' ? 'vxlan' : 'veth');
    expect(pings(nscNs, '169.254.1.0')).toBe(true);
    expect(await tcpTransfer(nscNs, nseNs, '169.254.1.0', 4 << 20)).toBe(4 << 20);
    expect(await stop(client)).toBe(0);
    expect(linksIn(nscNs)).toEqual([]);
    expect(linksIn(nseNs)).toEqual([]);
  });

  it('an nsc killed for good with its pod (kill -9, its netns gone; its tokens last 3 s): the hops expire its remote connection, and the NSE and the nodes hold nothing of it', async () => {
    const { nodes, nseNs } = twoNodes(mesh, ns);
    const nodeLinks = () => nodes.map(linksIn);
    // What the nodes hold with no connection (an OVS forwarder's bridge too): after one that closed cleanly.
    const clean = ns.make('nsc-clean');
    expect(await stop(await remoteNsc(mesh, clean))).toBe(0);
    const before = nodeLinks();
    const nscNs = ns.make('nsc');
    const client = await remoteNsc(mesh, nscNs, { NSM_MAX_TOKEN_LIFETIME: '3s' });
    expect(linksIn(nseNs)).toHaveLength(1);
    await stop(client, 'SIGKILL');
    ns.remove(nscNs);
    // Its token ran out at most 3 s after its last refresh: every hop closes, down to the NSE.
    await expect.poll(() => linksIn(nseNs), { timeout: 15_000, interval: 500 }).toEqual([]);
    await expect.poll(nodeLinks, { timeout: 5000, interval: 500 }).toEqual(before);
  }, 60_000);

  it('bad input: an nsc asking for a 16-character interface name hears INVALID_ARGUMENT naming it (and keeps retrying, as upstream); nothing is configured anywhere', async () => {
    const [host, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    mesh.node(host, 0);
    mesh.nse(nseNs, 0);
    const client = mesh.nsc(nscNs, 'kernel://icmp-responder/sixteen-chars-ab');
    await expect.poll(() => client.out, { timeout: 20_000 }).toMatch(/"request failed, retrying".*"code":"INVALID_ARGUMENT".*interface name \\"sixteen-chars-ab\\" is not valid/);
    expect(linksIn(nscNs)).toEqual([]);
    expect(linksIn(nseNs)).toEqual([]);
    expect(await stop(client)).toBe(0);
  });

  it('short tokens: every daemon with NSM_MAX_TOKEN_LIFETIME=3s (below the 15 s request and register budgets) stays registered and connected through its refreshes: one interface, never remade, no healing', async () => {
    const forwarderOf = mesh.forwarderOf;
    await mesh.dispose();
    mesh = new ProcessMesh({ NSM_MAX_TOKEN_LIFETIME: '3s' });
    mesh.forwarderOf = forwarderOf;
    const [host, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    mesh.node(host, 0);
    mesh.nse(nseNs, 0);
    // INFO: the nsc's "healing" lines are what this test looks for.
    const client = mesh.start(nscNs, 'nsc', { NSM_NAME: 'nsc', NSM_CONNECT_TO: mesh.sock('nsmgr-0'), NSM_NETWORK_SERVICES: 'kernel://icmp-responder/nsm-1', NSM_LOG_LEVEL: 'INFO' });
    await expect.poll(() => events(client, 'connected').length, { timeout: 20_000 }).toBe(1);
    const first = ifindex(nscNs);
    // Two token lifetimes: several refreshes, each re-arming every hop's timeout.
    await new Promise((r) => setTimeout(r, 6000));
    expect(client.out).not.toMatch(/"healing|control plane lost/);
    expect(ifindex(nscNs)).toBe(first);
    expect(pings(nscNs, '169.254.1.0')).toBe(true);
    await closesCleanly(client, nscNs, nseNs);
  });

  it('heal: kill -9 the forwarder under a running ping, start another; the client heals through it and ping comes back (the gap is printed)', async () => {
    const { host, nscNs, nseNs, forwarder, client } = await connectedLocally();
    const before = ifindex(nscNs);
    const ping = pinger(nscNs, '169.254.1.0');
    await expect.poll(() => ping.replies().length, { timeout: 5000 }).toBeGreaterThan(5);

    await stop(forwarder, 'SIGKILL');
    const killedAt = Date.now() / 1000;
    mesh.forwarder(host, 0, 'forwarder-new');
    // Healed: the new forwarder made the client's interface anew, and ping answers over it.
    await expect.poll(() => ifindex(nscNs) !== before, { timeout: 20_000 }).toBe(true);
    const healedAt = Date.now() / 1000;
    await expect.poll(() => ping.replies().filter((t) => t > healedAt).length, { timeout: 5000 }).toBeGreaterThan(3);
    console.log(`forwarder kill → heal: longest ping gap ${ping.gap(killedAt).toFixed(3)} s`);
    ping.stop();
    await closesCleanly(client, nscNs, nseNs);
    // OVS: the new forwarder (another name) took the dead one's bridge ports for this connection away too.
    if (kind === 'forwarder-ovs') expect(linksIn(host).filter((l) => /^o[0-9a-f]{14}$/.test(l))).toEqual([]);
  });

  it('heal: the NSE dies with its namespace while a second NSE is registered; the dead datapath makes the client reselect and ping answers at the new NSE address', async () => {
    const [host, nscNs, nseNs, nse2Ns] = [ns.make('node0'), ns.make('nsc'), ns.make('nse'), ns.make('nse2')];
    mesh.node(host, 0);
    const first = mesh.nse(nseNs, 0);
    const client = mesh.nsc(nscNs);
    await expect.poll(() => events(client, 'connected').length, { timeout: 20_000 }).toBe(1);
    mesh.nse(nse2Ns, 0, 'icmp-responder-2', '169.254.2.0/24');
    expect(pings(nscNs, '169.254.1.0')).toBe(true);

    await stop(first, 'SIGKILL');
    ns.remove(nseNs); // the pod is gone: its netns and the interface in it go too
    await expect.poll(() => pings(nscNs, '169.254.2.0'), { timeout: 20_000, interval: 500 }).toBe(true);
    await closesCleanly(client, nscNs, nse2Ns);
  });

  it('policy routes (NSM_PBR_CONFIG_PATH): the NSE hands the file’s policies to the client; the forwarder puts a rule and a table per policy in the client netns (a policy’s `from` also an address of the client, as upstream) and leaves nothing after Close', async () => {
    const [host, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    const pbr = join(mesh.dir, 'pbr', 'config.yaml');
    mkdirSync(dirname(pbr));
    writeFileSync(pbr, ['- proto: 6', '  dstport: 8080', '  routes:', '  - prefix: 169.254.40.0/24', '    nexthop: 169.254.1.0', '- from: 169.254.1.77/32'].join('\n'));
    mesh.node(host, 0);
    mesh.start(nseNs, 'nse-icmp-responder', { NSM_NAME: 'icmp-responder', NSM_CONNECT_TO: mesh.sock('nsmgr-0'), NSM_CIDR_PREFIX: '169.254.1.0/24', NSM_PBR_CONFIG_PATH: pbr });
    const client = mesh.nsc(nscNs);
    await expect.poll(() => events(client, 'connected').length, { timeout: 20_000 }).toBe(1);
    expect(events(client, 'connected')[0]?.context.ipContext.srcIpAddrs).toEqual(['169.254.1.1/32', '169.254.1.77/32']);
    type Rule = { table: string; src?: string; ipproto?: string; dport?: number };
    const ours = () => ipJson<Rule[]>(nscNs, ['rule', 'show']).filter((r) => !['local', 'main', 'default'].includes(r.table));
    const routes = (table: string) => ipJson<{ dst: string; gateway?: string; dev: string }[]>(nscNs, ['route', 'show', 'table', table]).map((r) => `${r.dst} via ${r.gateway ?? '-'} dev ${r.dev}`);
    expect(ours()).toMatchObject([
      { src: 'all', ipproto: 'tcp', dport: 8080 },
      { src: '169.254.1.77' },
    ]);
    expect(ours().map((r) => routes(r.table))).toEqual([['169.254.40.0/24 via 169.254.1.0 dev nsm-1'], ['default via 169.254.1.0 dev nsm-1']]);
    expect(ipJson<{ addr_info: { local: string }[] }[]>(nscNs, ['addr', 'show', 'dev', 'nsm-1'])[0]?.addr_info.map((a) => a.local)).toContain('169.254.1.77');

    expect(await stop(client)).toBe(0);
    expect(ours()).toEqual([]);
    expect(linksIn(nscNs)).toEqual([]);
  });

  it('crash leftovers: a forwarder killed while holding a connection and restarted under its name leaves no duplicate or orphaned link', async () => {
    const { host, nscNs, nseNs, forwarder, client } = await connectedLocally();
    const before = ifindex(nscNs);
    await stop(forwarder, 'SIGKILL');
    mesh.forwarder(host, 0, 'forwarder-0');
    await expect.poll(() => ifindex(nscNs) !== before, { timeout: 20_000 }).toBe(true);
    await expect.poll(() => pings(nscNs, '169.254.1.0'), { timeout: 5000 }).toBe(true);
    await closesCleanly(client, nscNs, nseNs);
  });
};

describeKernel('the kernel datapath across OS processes in network namespaces (forwarder-kernel)', e2e('forwarder-kernel'));
const noOvs = ovsMissing();
if (noOvs) console.warn(`\n!!! SKIPPED the process e2e on forwarder-ovs: ${noOvs} (CI installs it) !!!\n`);
else describeKernel('the same across OS processes on forwarder-ovs (Open vSwitch, userspace datapath)', e2e('forwarder-ovs'));

/** The client interface's ifindex (a new one means the interface was made anew). */
const ifindex = (ns: string): number | undefined => ipJson<{ ifindex: number }[]>(ns, ['link', 'show']).find((l) => l.ifindex !== 1)?.ifindex;


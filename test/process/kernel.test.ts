import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { describeKernel, ipJson, pings, tcpTransfer, underlay, useNamespaces } from '../kernel/namespaces.js';

const bin = resolve(import.meta.dirname, '../../bin/nsm-rx.js');

interface Daemon {
  readonly child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  out: string;
}

const daemons: Daemon[] = [];
let dir = '';

afterEach(async (ctx) => {
  // A failed test shows what every daemon said.
  if (ctx.task.result?.state === 'fail') for (const d of daemons) console.error(`--- ${d.child.spawnargs.slice(4).join(' ')}\n${d.out}`);
  await Promise.all(daemons.splice(0).map((d) => stop(d, 'SIGKILL')));
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
});

/** Starts `nsm-rx <component>` inside netns `ns`, configured only by NSM_* variables. */
function start(ns: string, component: string, env: Record<string, string>): Daemon {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, bin, component], { env: { ...process.env, NSM_LOG_LEVEL: process.env['DBG'] ? 'DEBUG' : 'WARN', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const d: Daemon = { child, out: '' };
  child.stdout?.on('data', (b: Buffer) => (d.out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (d.out += b.toString()));
  daemons.push(d);
  return d;
}

function stop(d: Daemon, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return Promise.resolve(d.child.exitCode);
  const exited = new Promise<number | null>((r) => d.child.once('exit', (code) => r(code)));
  d.child.kill(signal);
  return exited;
}

/** The nsc's JSON lines of one kind ("connected", "closed", …). */
function events(nsc: Daemon, kind: string): { path: { pathSegments: { name: string }[] }; context: { ipContext: { srcIpAddrs: string[]; dstIpAddrs: string[] } } }[] {
  return nsc.out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string; connection: never })
    .filter((e) => e.event === kind)
    .map((e) => e.connection);
}

const linksIn = (ns: string) => ipJson<{ ifname: string }[]>(ns, ['link', 'show']).filter((l) => l.ifname !== 'lo').map((l) => l.ifname);
const sock = (name: string) => `unix://${join(dir, `${name}.sock`)}`;

/** A node's control plane: registry (node 0 only), nsmgr and a forwarder-kernel, in the node's netns. */
function node(ns: string, i: number, tcp?: string): { nsmgr: Daemon; forwarder: Daemon } {
  if (i === 0) start(ns, 'registry-memory', { NSM_LISTEN_ON: sock('registry') });
  const nsmgr = start(ns, 'nsmgr', {
    NSM_NAME: `nsmgr-${i}`,
    NSM_LISTEN_ON: [sock(`nsmgr-${i}`), ...(tcp ? [`tcp://${tcp}:5001`] : [])].join(','),
    NSM_REGISTRY_URL: sock('registry'),
    NSM_EXCLUDED_PREFIXES_FILE: join(dir, `excluded-${i}.yaml`),
  });
  const forwarder = start(ns, 'forwarder-kernel', { NSM_NAME: `forwarder-${i}`, NSM_CONNECT_TO: sock(`nsmgr-${i}`), NSM_LISTEN_ON: sock(`forwarder-${i}`), ...(tcp ? { NSM_TUNNEL_IP: tcp } : {}) });
  return { nsmgr, forwarder };
}

const nse = (ns: string, i: number, name = 'icmp-responder') =>
  start(ns, 'nse-icmp-responder', { NSM_NAME: name, NSM_CONNECT_TO: sock(`nsmgr-${i}`), NSM_SERVICE_NAMES: 'icmp-responder', NSM_CIDR_PREFIX: '169.254.1.0/24' });
const nsc = (ns: string) => start(ns, 'nsc', { NSM_NAME: 'nsc', NSM_CONNECT_TO: sock('nsmgr-0'), NSM_NETWORK_SERVICES: 'kernel://icmp-responder/nsm-1' });

describeKernel('the kernel datapath across OS processes in network namespaces', () => {
  const ns = useNamespaces();

  it('local: nsc and NSE namespaces on one node; ping and 4 MB TCP both ways; SIGTERM closes and removes every link', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nsm-rx-kernel-'));
    const [host, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    node(host, 0);
    nse(nseNs, 0);
    const client = nsc(nscNs);
    await expect.poll(() => events(client, 'connected').length, { timeout: 20_000 }).toBe(1);
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

  it('remote: two node namespaces joined by an underlay veth, nsmgrs on TCP across it; the connection runs over VXLAN; ping and TCP pass', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nsm-rx-kernel-'));
    const [node0, node1, nscNs, nseNs] = [ns.make('node0'), ns.make('node1'), ns.make('nsc'), ns.make('nse')];
    underlay(node0, node1, '169.254.250.1/30', '169.254.250.2/30');
    node(node0, 0, '169.254.250.1');
    node(node1, 1, '169.254.250.2');
    nse(nseNs, 1);
    const client = nsc(nscNs);
    await expect.poll(() => events(client, 'connected').length, { timeout: 20_000 }).toBe(1);
    expect(events(client, 'connected')[0]!.path.pathSegments.map((s) => s.name)).toEqual(['nsc', 'nsmgr-0', 'forwarder-0', 'nsmgr-1', 'forwarder-1', 'icmp-responder']);
    expect(ipJson<{ linkinfo?: { info_kind?: string } }[]>(nscNs, ['-d', 'link', 'show', 'nsm-1'])[0]?.linkinfo?.info_kind).toBe('vxlan');
    expect(pings(nscNs, '169.254.1.0')).toBe(true);
    expect(await tcpTransfer(nscNs, nseNs, '169.254.1.0', 4 << 20)).toBe(4 << 20);
    expect(await stop(client)).toBe(0);
    expect(linksIn(nscNs)).toEqual([]);
    expect(linksIn(nseNs)).toEqual([]);
  });

  it('heal: kill -9 the forwarder under a running ping, start another; the client heals through it and ping comes back (the gap is printed)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nsm-rx-kernel-'));
    const [host, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    const { forwarder } = node(host, 0);
    nse(nseNs, 0);
    const client = nsc(nscNs);
    await expect.poll(() => events(client, 'connected').length, { timeout: 20_000 }).toBe(1);
    const before = ifindex(nscNs);
    const ping = pinger(nscNs, '169.254.1.0');
    await expect.poll(() => ping.replies().length, { timeout: 5000 }).toBeGreaterThan(5);

    await stop(forwarder, 'SIGKILL');
    const killedAt = Date.now() / 1000;
    start(host, 'forwarder-kernel', { NSM_NAME: 'forwarder-new', NSM_CONNECT_TO: sock('nsmgr-0'), NSM_LISTEN_ON: sock('forwarder-new') });
    // Healed: the new forwarder made the client's interface anew, and ping answers over it.
    await expect.poll(() => ifindex(nscNs) !== before, { timeout: 20_000 }).toBe(true);
    const healedAt = Date.now() / 1000;
    await expect.poll(() => ping.replies().filter((t) => t > healedAt).length, { timeout: 5000 }).toBeGreaterThan(3);
    console.log(`forwarder kill → heal: longest ping gap ${ping.gap(killedAt).toFixed(3)} s`);
    ping.stop();
    expect(linksIn(nscNs)).toEqual(['nsm-1']);
    expect(linksIn(nseNs)).toHaveLength(1);
    expect(await stop(client)).toBe(0);
    expect(linksIn(nscNs)).toEqual([]);
    expect(linksIn(nseNs)).toEqual([]);
  });

  it('heal: the NSE dies with its namespace while a second NSE is registered; the dead datapath makes the client reselect and ping answers at the new NSE address', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nsm-rx-kernel-'));
    const [host, nscNs, nseNs, nse2Ns] = [ns.make('node0'), ns.make('nsc'), ns.make('nse'), ns.make('nse2')];
    node(host, 0);
    const first = nse(nseNs, 0);
    const client = nsc(nscNs);
    await expect.poll(() => events(client, 'connected').length, { timeout: 20_000 }).toBe(1);
    start(nse2Ns, 'nse-icmp-responder', { NSM_NAME: 'icmp-responder-2', NSM_CONNECT_TO: sock('nsmgr-0'), NSM_SERVICE_NAMES: 'icmp-responder', NSM_CIDR_PREFIX: '169.254.2.0/24' });
    expect(pings(nscNs, '169.254.1.0')).toBe(true);

    await stop(first, 'SIGKILL');
    ns.remove(nseNs); // the pod is gone: its netns and the interface in it go too
    await expect.poll(() => pings(nscNs, '169.254.2.0'), { timeout: 20_000, interval: 500 }).toBe(true);
    expect(linksIn(nscNs)).toEqual(['nsm-1']);
    expect(linksIn(nse2Ns)).toHaveLength(1);
    expect(await stop(client)).toBe(0);
    expect(linksIn(nscNs)).toEqual([]);
    expect(linksIn(nse2Ns)).toEqual([]);
  });

  it('crash leftovers: a forwarder killed while holding a connection and restarted under its name leaves no duplicate or orphaned link', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nsm-rx-kernel-'));
    const [host, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    const { forwarder } = node(host, 0);
    nse(nseNs, 0);
    const client = nsc(nscNs);
    await expect.poll(() => events(client, 'connected').length, { timeout: 20_000 }).toBe(1);
    const before = ifindex(nscNs);
    await stop(forwarder, 'SIGKILL');
    start(host, 'forwarder-kernel', { NSM_NAME: 'forwarder-0', NSM_CONNECT_TO: sock('nsmgr-0'), NSM_LISTEN_ON: sock('forwarder-0') });
    await expect.poll(() => ifindex(nscNs) !== before, { timeout: 20_000 }).toBe(true);
    await expect.poll(() => pings(nscNs, '169.254.1.0'), { timeout: 5000 }).toBe(true);
    expect(linksIn(nscNs)).toEqual(['nsm-1']);
    expect(linksIn(nseNs)).toHaveLength(1);
    expect(await stop(client)).toBe(0);
    expect(linksIn(nscNs)).toEqual([]);
    expect(linksIn(nseNs)).toEqual([]);
  });
});

/** The client interface's ifindex (a new one means the interface was made anew). */
const ifindex = (ns: string): number | undefined => ipJson<{ ifindex: number }[]>(ns, ['link', 'show']).find((l) => l.ifindex !== 1)?.ifindex;

/** `ping -D` every 50 ms from a netns: reply times, and the longest silence after a moment. */
function pinger(ns: string, dst: string): { replies(): number[]; gap(after: number): number; stop(): void } {
  const child = spawn('ip', ['netns', 'exec', ns, 'ping', '-D', '-n', '-i', '0.05', dst], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const replies = () => [...out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from/gm)].map((m) => Number(m[1]));
  return {
    replies,
    gap(after) {
      const times = replies();
      let worst = 0;
      for (let i = 1; i < times.length; i++) if ((times[i] as number) > after) worst = Math.max(worst, (times[i] as number) - (times[i - 1] as number));
      return worst;
    },
    stop: () => child.kill('SIGKILL'),
  };
}

import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { addNetns, delNetns, underlay } from '../kernel/netns.js';
import { nscEvents, pinger, ProcessMesh, type Daemon } from '../process/processMesh.js';

/** One NSM connection of the chaos mesh: the netns of the nsc holding it, the NSE's address, its ping. */
export interface ChaosConnection {
  readonly ns: string;
  readonly dst: string;
  readonly ping: ReturnType<typeof pinger>;
}

/** What the kernel holds in a netns: links, routes of every table, policy rules. */
export interface NetnsState {
  readonly links: string[];
  readonly routes: string[];
  readonly rules: string[];
}

/**
 * `ip` output lines with what is remade differently each time masked: the random suffix of an
 * NSE-side interface name and IPv4 addresses (a healed connection may hold others); IPv6
 * link-local and multicast routes (the kernel's own, added when a link comes up) left out.
 */
const lines = (ns: string, args: string[]): string[] =>
  execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().replace(/-[0-9a-f]{4}\b/g, '-*').replace(/\b\d+\.\d+\.\d+\.\d+\b/g, 'A.B.C.D'))
    .filter((l) => l !== '' && !/fe80::|ff00::/.test(l))
    .sort();

/** Links (names and kinds, not indexes: a link remade identically is not a leftover), routes of every table and policy rules of `ns`. */
export function netnsState(ns: string): NetnsState {
  return {
    links: lines(ns, ['-o', 'link', 'show']).map((l) => l.replace(/^\d+: /, '').replace(/@if\d+|link-netns \S+|link-netnsid \d+/g, '').split(/\s+/)[0] ?? ''),
    routes: lines(ns, ['route', 'show', 'table', 'all']),
    rules: lines(ns, ['rule', 'show']),
  };
}

/** Open file descriptors of a process (sockets, pipes, files). */
export const openFds = (pid: number | undefined): number => (pid === undefined ? 0 : readdirSync(`/proc/${pid}/fd`).length);

/**
 * The chaos matrix's mesh: two node namespaces joined by an underlay veth (169.254.250.0/30),
 * a control plane in each (registry on node 0, nsmgr-i and forwarder-kernel-i), one NSE behind
 * node 1, and `nscs` nsc processes each holding `perNsc` kernel connections — the even ones
 * attached to node 0 (remote connections, over VXLAN), the odd ones to node 1 (local) — with a
 * ping on every connection.
 */
export interface ChaosMeshOptions {
  /** Each connection's ping interval, s (default 0.1). */
  readonly pingIntervalS?: number;
  /** Variables every daemon of the mesh gets (ProcessMesh's `env`). */
  readonly env?: Readonly<Record<string, string>>;
}

export class ChaosMesh {
  readonly mesh: ProcessMesh;
  readonly namespaces: string[] = [];
  readonly connections: ChaosConnection[] = [];
  /** Every daemon by the name it runs as (identity, registry, nsmgr-0, forwarder-1, icmp-responder, nsc-3, …). */
  readonly daemons = new Map<string, Daemon>();

  private constructor(private readonly options: ChaosMeshOptions) {
    this.mesh = new ProcessMesh(options.env);
  }

  /** A netns of the mesh (deleted with it), named after `label`. */
  netns(label: string): string {
    const name = `nsmrx-chaos-${process.pid}-${label}`;
    addNetns(name);
    this.namespaces.push(name);
    return name;
  }

  static async build(nscs: number, perNsc: number, options: ChaosMeshOptions = {}): Promise<ChaosMesh> {
    const m = new ChaosMesh(options);
    try {
      await m.start(nscs, perNsc);
      return m;
    } catch (e) {
      console.error(m.mesh.dump());
      await m.dispose();
      throw e;
    }
  }

  private async start(nscs: number, perNsc: number): Promise<void> {
    const [node0, node1] = [this.netns('node0'), this.netns('node1')];
    underlay(node0, node1, '169.254.250.1/30', '169.254.250.2/30');
    for (const [i, [ns, ip]] of [[node0, '169.254.250.1'], [node1, '169.254.250.2']].entries()) {
      const { nsmgr, forwarder } = this.mesh.node(ns as string, i, ip);
      this.daemons.set(`nsmgr-${i}`, nsmgr).set(`forwarder-${i}`, forwarder);
    }
    this.daemons.set('icmp-responder', this.mesh.nse(this.netns('nse'), 1, 'icmp-responder', '169.254.0.0/20'));
    const services = Array.from({ length: perNsc }, (_, j) => `kernel://icmp-responder/nsm-${j + 1}`).join(',');
    const nscNs: string[] = [];
    for (let i = 0; i < nscs; i++) {
      nscNs.push(this.netns(`nsc${i}`));
      this.daemons.set(`nsc-${i}`, this.mesh.start(nscNs[i], 'nsc', { NSM_NAME: `nsc-${i}`, NSM_CONNECT_TO: this.mesh.sock(`nsmgr-${i % 2}`), NSM_NETWORK_SERVICES: services }));
    }
    this.daemons.set('identity', this.mesh.identityProvider() as Daemon);
    this.daemons.set('registry', this.mesh.daemons.find((d) => d.child.spawnargs.includes('registry-memory')) as Daemon);
    const nscDaemons = [...this.daemons].filter(([name]) => name.startsWith('nsc-')).map(([, d]) => d);
    await until(() => nscDaemons.every((d) => nscEvents(d, 'connected').length === perNsc), 120_000, 'every nsc connected');
    for (const [i, d] of nscDaemons.entries())
      for (const conn of nscEvents(d, 'connected')) {
        const dst = conn.context.ipContext.dstIpAddrs[0]?.replace(/\/32$/, '') ?? '';
        const ns = nscNs[i] as string;
        this.connections.push({ ns, dst, ping: pinger(ns, dst, this.options.pingIntervalS ?? 0.1) });
      }
  }

  /** Every netns of the mesh and what it holds. */
  state(): Record<string, NetnsState> {
    return Object.fromEntries(this.namespaces.map((ns) => [ns, netnsState(ns)]));
  }

  /** Open fds of every daemon, by name. */
  fds(): Record<string, number> {
    return Object.fromEntries([...this.daemons].map(([name, d]) => [name, openFds(d.child.pid)]));
  }

  /** Daemon `name` killed with SIGKILL and started again as it was (a pod's container restarting). */
  async killAndRestart(name: string): Promise<void> {
    const d = this.daemons.get(name);
    if (d === undefined) throw new Error(`no daemon ${name}`);
    const exited = new Promise((r) => d.child.once('exit', r));
    d.child.kill('SIGKILL');
    await exited;
    this.daemons.set(name, this.mesh.restart(d));
  }

  async dispose(): Promise<void> {
    for (const c of this.connections) c.ping.stop();
    await this.mesh.dispose();
    for (const ns of this.namespaces.splice(0)) delNetns(ns);
  }
}

/** Polls `check` every 100 ms until it holds, or fails after `timeoutMs` naming `what`. */
export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

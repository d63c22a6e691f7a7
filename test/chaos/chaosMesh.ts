import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import { addNetns, delNetns, removeNetns, underlay } from '../kernel/netns.js';
import { nscEvents, pinger, ProcessMesh, registeredEndpoints, stop, type Daemon } from '../process/processMesh.js';
import { get, sample, scrape } from '../process/scrape.js';

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
 * `ip` output lines with what is remade differently each time masked: the per-connection suffix
 * of an NSE-side interface name (a new connection's differs) and IPv4 addresses (a healed
 * connection may hold others); IPv6 link-local and multicast routes (the kernel's own, added
 * when a link comes up) left out.
 */
const lines = (ns: string, args: string[]): string[] =>
  execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().replace(/-[0-9A-Za-z]{4}\b/g, '-*').replace(/\b\d+\.\d+\.\d+\.\d+\b/g, 'A.B.C.D'))
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

/** What a daemon's own Prometheus endpoint says of its leaks: live timers and handles. */
export interface LeakCounters {
  readonly timers: number;
  readonly handles: number | undefined;
}

/**
 * Where the chaos mesh's daemons serve their profiler, when asked to (NSM_PPROF_ENABLED):
 * 127.0.0.2, apart from their Prometheus endpoint on 127.0.0.1 (both on any free port).
 */
export const PROFILER_LISTEN_ON = '127.0.0.2:0';

/** The port daemon `pid` listens on at loopback `address` in `ns` (but 53, an nsc's DNS). */
function loopbackPort(ns: string | undefined, pid: number, address: string): string | undefined {
  const ss = ['ss', '-Hltnp'];
  const out = execFileSync(ns === undefined ? 'ss' : 'ip', ns === undefined ? ss.slice(1) : ['netns', 'exec', ns, ...ss], { encoding: 'utf8' });
  const at = new RegExp(`${address.replace(/\./g, '\\.')}:(\\d+) `);
  return out
    .split('\n')
    .find((l) => l.includes(`pid=${pid},`) && at.test(l) && !l.includes(`${address}:53 `))
    ?.match(at)?.[1];
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
  private readonly metricsPorts = new Map<Daemon, string | undefined>();
  private readonly profilerPorts = new Map<Daemon, string | undefined>();
  private pool: ChannelPool | undefined;

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
    const nscNs: string[] = [];
    for (let i = 0; i < nscs; i++) {
      nscNs.push(this.netns(`nsc${i}`));
      this.startNsc(nscNs[i] as string, `nsc-${i}`, i % 2, perNsc);
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

  /**
   * The leak counters of daemon `name` from its Prometheus endpoint (the mesh is run with
   * PROMETHEUS=true), or undefined when it serves none.
   */
  async leakCounters(name: string): Promise<LeakCounters | undefined> {
    const d = this.daemon(name);
    const ns = this.mesh.netnsOf(d);
    const port = this.portOf(this.metricsPorts, d, '127.0.0.1');
    if (port === undefined) return undefined;
    const body = (await scrape(ns, `https://127.0.0.1:${port}/metrics`, this.mesh.identitySocket)).body;
    return { timers: sample(body, 'nodejs_active_resources', { type: 'Timeout' }) ?? 0, handles: sample(body, 'nodejs_active_handles_total') };
  }

  /** Daemon `name`'s live heap, bytes: used right after a full collection, as its profiler reports it (started with NSM_PPROF_LISTEN_ON=PROFILER_LISTEN_ON). */
  async liveHeap(name: string): Promise<number | undefined> {
    const d = this.daemon(name);
    const port = this.portOf(this.profilerPorts, d, '127.0.0.2');
    if (port === undefined) return undefined;
    const text = await get(this.mesh.netnsOf(d), `http://127.0.0.2:${port}/debug/pprof/heap?debug=1&gc=1`);
    const used = /^used_heap_size (\d+)$/m.exec(text)?.[1];
    return used === undefined ? undefined : Number(used);
  }

  /** The port `d` listens on at `address`, found once. */
  private portOf(found: Map<Daemon, string | undefined>, d: Daemon, address: string): string | undefined {
    const port = found.get(d) ?? loopbackPort(this.mesh.netnsOf(d), d.child.pid as number, address);
    found.set(d, port);
    return port;
  }

  /** The NSEs the registry holds, as `name url` lines, read as the nsc (tried 5 times: a loaded machine dials slowly). */
  async registered(tries = 5): Promise<string[]> {
    this.pool ??= await this.mesh.nscPool();
    try {
      const all = await registeredEndpoints(this.pool, parseNsmUrl(this.mesh.sock('registry')));
      return all.map((nse) => `${nse.name} ${nse.url}`).sort();
    } catch (e) {
      if (tries <= 1) throw e;
      await new Promise((r) => setTimeout(r, 1000));
      return this.registered(tries - 1);
    }
  }

  /** The daemon running as `name`. */
  daemon(name: string): Daemon {
    const d = this.daemons.get(name);
    if (d === undefined) throw new Error(`no daemon ${name}`);
    return d;
  }

  /** Daemon `name` hung — SIGSTOP: alive, its sockets open, answering nothing — for `seconds`, then let go on (SIGCONT). */
  async hang(name: string, seconds: number): Promise<void> {
    const d = this.daemon(name);
    d.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, seconds * 1000));
    d.child.kill('SIGCONT');
  }

  private startNsc(ns: string, name: string, node: number, count: number, env: Record<string, string> = {}): Daemon {
    const services = Array.from({ length: count }, (_, j) => `kernel://icmp-responder/nsm-${j + 1}`).join(',');
    const d = this.mesh.start(ns, 'nsc', { NSM_NAME: name, NSM_CONNECT_TO: this.mesh.sock(`nsmgr-${node}`), NSM_NETWORK_SERVICES: services, ...env });
    this.daemons.set(name, d);
    return d;
  }

  /**
   * One more nsc, `name`, in a netns of its own behind node `node`, with `count` connections
   * and variables `env` of its own; resolves once it is connected. Its connections are not
   * pinged (not among `connections`).
   */
  async nscOfItsOwn(name: string, node: number, count: number, env: Record<string, string>): Promise<void> {
    const d = this.startNsc(this.netns(name), name, node, count, env);
    await until(() => nscEvents(d, 'connected').length === count, 60_000, `${name} connected`);
  }

  /** The pod of daemon `name` gone: the daemon killed with SIGKILL, and its netns deleted with everything in it. */
  async gone(name: string): Promise<void> {
    const d = await this.kill(name);
    const ns = this.mesh.netnsOf(d);
    if (ns === undefined) throw new Error(`${name} runs in no netns of its own`);
    this.namespaces.splice(this.namespaces.indexOf(ns), 1);
    removeNetns(ns);
  }

  /** Daemon `name` killed with SIGKILL, for good: no longer one of the mesh's daemons. */
  async kill(name: string): Promise<Daemon> {
    const d = this.daemon(name);
    await stop(d, 'SIGKILL');
    this.daemons.delete(name);
    return d;
  }

  /**
   * Daemon `name` killed with SIGKILL and started again as it was (a pod's container restarting).
   * A restarted nsc Requests its connections anew, one after another: the fault lasts until it
   * has them all, so that the next cell does not begin in the middle of them.
   */
  async killAndRestart(name: string): Promise<void> {
    const killed = await this.kill(name);
    const held = connectedIds(killed);
    const again = this.mesh.restart(killed);
    this.daemons.set(name, again);
    if (held > 0) await until(() => connectedIds(again) >= held, 60_000, `${name} connected again`);
  }

  async dispose(): Promise<void> {
    for (const c of this.connections) c.ping.stop();
    this.pool = undefined; // closed with the mesh's watchers
    await this.mesh.dispose();
    for (const ns of this.namespaces.splice(0)) delNetns(ns);
  }
}

/** How many connections an nsc has reported connected (a heal reports one again). */
const connectedIds = (nsc: Daemon): number => new Set(nscEvents(nsc, 'connected').map((c) => c.path.pathSegments[0]?.id)).size;

/** Polls `check` every 100 ms until it holds, or fails after `timeoutMs` naming `what`. */
export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

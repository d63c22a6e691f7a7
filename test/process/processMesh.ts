import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { Context } from '../../operators/core/context.js';
import { registryChain } from '../../operators/core/registry.js';
import { nseRegistryClient } from '../../operators/registry/grpcClient.js';
import { parseNsmUrl, type NsmUrl } from '../../operators/tools/nsmUrl.js';
import { NetworkServiceEndpointQuery, type NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { ChannelPool, type ChannelPoolOptions } from '../../streams/grpc/channelPool.js';
import { spiffeTokenGenerator } from '../../streams/spiffe/token.js';
import { workloadApiSource } from '../../streams/spiffe/workloadApi.js';

/** A file of this checkout by its path from the top (`bin/nsm-rx.js`), from the sources (tests) or from dist/ (benches). */
export function inCheckout(relative: string, dir = import.meta.dirname): string {
  const candidate = resolve(dir, relative);
  return existsSync(candidate) || dir === '/' ? candidate : inCheckout(relative, resolve(dir, '..'));
}
export const bin = inCheckout('bin/nsm-rx.js');

/** Every daemon still running: killed if this process exits without disposing its mesh (a crashed bench). */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A running `nsm-rx <component>` and everything it printed so far (stdout and stderr). */
export interface Daemon {
  readonly child: ChildProcess;
  out: string;
}

/** Stops a daemon (SIGTERM: gracefully; SIGKILL: as a crash) and answers its exit code. */
export function stop(d: Daemon, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return Promise.resolve(d.child.exitCode);
  const exited = new Promise<number | null>((r) => d.child.once('exit', (code) => r(code)));
  d.child.kill(signal);
  return exited;
}

/** Which forwarder a node runs, with what it needs besides the common variables. */
export interface ForwarderKind {
  readonly component: string;
  readonly env?: Readonly<Record<string, string>>;
}
const kernelForwarder: ForwarderKind = { component: 'forwarder-kernel' };

/** What an nsc printed as JSON lines of one kind ("connected", "closed", …). */
export interface NscConnection {
  readonly path: { readonly pathSegments: { readonly name: string; readonly id: string }[] };
  readonly context: { readonly ipContext: { readonly srcIpAddrs: string[]; readonly dstIpAddrs: string[] } };
}
export function nscEvents(nsc: Daemon, kind: string): NscConnection[] {
  return nsc.out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string; connection: NscConnection })
    .filter((e) => e.event === kind)
    .map((e) => e.connection);
}

/** Every NSE the registry (or nsmgr) at `url` holds, read as the pool's identity within 5 s. */
export const registeredEndpoints = (pool: ChannelPool, url: NsmUrl): Promise<NetworkServiceEndpoint[]> =>
  lastValueFrom(registryChain([nseRegistryClient({ pool, url })]).find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: {} }), Context.background.withDeadline(Date.now() + 5000)).pipe(toArray())).then((all) =>
    all.flatMap((r) => (r.networkServiceEndpoint ? [r.networkServiceEndpoint] : [])),
  );

/**
 * A mesh of real OS processes, each started inside a network namespace and configured only by
 * NSM_* variables, talking over unix sockets in one temp dir (and TCP between node namespaces).
 * Secure like a deployment: the first daemon started brings `nsm-rx identity` up, and every
 * process gets its SVID from it (mTLS, signed tokens, default policies).
 */
export class ProcessMesh {
  readonly daemons: Daemon[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), 'nsm-rx-processes-'));
  /** The Workload API socket of the mesh's identity provider. */
  readonly identitySocket = `unix://${join(this.dir, 'identity', 'agent.sock')}`;
  /** Every daemon's TMPDIR: what a daemon killed mid-run leaves there (an endpoint's socket dir) goes with the mesh. */
  private readonly tmp = join(this.dir, 'tmp');
  private identity: Daemon | undefined;
  /** How each daemon was started, to start it again (restart). */
  private readonly launches = new Map<Daemon, { ns: string | undefined; argv: string[]; env: Record<string, string> }>();
  private readonly watchers: { pool: ChannelPool; stop: () => void }[] = [];
  /** The forwarder `node()` and `forwarder()` start on node i unless told (forwarder-kernel). */
  forwarderOf: (node: number) => ForwarderKind = () => kernelForwarder;

  /**
   * `env`: variables every daemon of this mesh gets (the identity provider too); `registry`
   * starts the registry `node(…, 0)` brings up (default: registry-memory in node 0's netns)
   * listening on `sock('registry')`.
   */
  constructor(
    private readonly env: Readonly<Record<string, string>> = {},
    private readonly registry: (mesh: ProcessMesh, ns: string) => void = (mesh, ns) => mesh.start(ns, 'registry-memory', { NSM_LISTEN_ON: mesh.sock('registry') }),
  ) {
    mkdirSync(this.tmp);
  }

  /**
   * `nsm-rx identity` for this mesh. Its entries let this test process act as the nsc
   * (`unix:pid`: its monitor calls pass owners-only monitors, NSM_MONITOR_POLICIES) and give
   * every endpoint of the icmp-responder service one identity.
   */
  private startIdentity(): Daemon {
    mkdirSync(join(this.dir, 'identity'), { recursive: true });
    const entries = join(this.dir, 'identity', 'entries');
    const uid = process.getuid?.() ?? 0;
    writeFileSync(
      entries,
      [
        `spiffe://nsm.local/uid/${uid}/nsc unix:pid:${process.pid}`,
        // Endpoints of one service share an identity, as replicas share a service account: the
        // network service name belongs to it (client_allowed), whichever replica registers it.
        `spiffe://nsm.local/uid/${uid}/icmp-responder env:NSM_SERVICE_NAMES=icmp-responder`,
        '',
      ].join('\n'),
    );
    this.identity = this.start(undefined, 'identity', { SPIFFE_ENDPOINT_SOCKET: this.identitySocket, NSM_IDENTITY_DIR: join(this.dir, 'identity'), NSM_IDENTITY_ENTRIES: entries });
    return this.identity;
  }

  /** The mesh's identity provider (`nsm-rx identity`), once a daemon has started. */
  identityProvider(): Daemon | undefined {
    return this.identity;
  }

  /** A channel pool with the nsc's identity (see startIdentity), e.g. to watch its connection at the nsmgr. */
  async nscPool(options: Pick<ChannelPoolOptions, 'maxReceiveBytes'> = {}): Promise<ChannelPool> {
    this.identity ?? this.startIdentity();
    const { source, stop } = workloadApiSource(parseNsmUrl(this.identitySocket));
    await source.ready();
    const pool = new ChannelPool({ source, token: spiffeTokenGenerator(source, 600_000, Date.now), ...options });
    this.watchers.push({ pool, stop });
    return pool;
  }

  sock(name: string): string {
    return `unix://${join(this.dir, `${name}.sock`)}`;
  }

  /** `nsm-rx <component>` inside netns `ns` (undefined: this process's netns). */
  start(ns: string | undefined, component: string, env: Record<string, string>): Daemon {
    if (component !== 'identity') this.identity ?? this.startIdentity();
    return this.run(ns, [process.execPath, bin, component], env);
  }

  /** Any program (`argv`) inside netns `ns`, as one of this mesh's daemons (its SVID from the mesh's identity). */
  run(ns: string | undefined, argv: string[], env: Record<string, string>): Daemon {
    const [file, args] = ns === undefined ? [argv[0] as string, argv.slice(1)] : ['ip', ['netns', 'exec', ns, ...argv]];
    const child = spawn(file, args, { env: { ...process.env, TMPDIR: this.tmp, NSM_LOG_LEVEL: process.env['DBG'] ? 'DEBUG' : 'WARN', SPIFFE_ENDPOINT_SOCKET: this.identitySocket, ...this.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    child.once('exit', () => running.delete(child));
    const d: Daemon = { child, out: '' };
    child.stdout?.on('data', (b: Buffer) => (d.out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (d.out += b.toString()));
    this.daemons.push(d);
    this.launches.set(d, { ns, argv, env });
    return d;
  }

  /** `d` started again as it was first (a pod's container restarting), once it has exited; the new daemon takes its place. */
  restart(d: Daemon): Daemon {
    const launch = this.launches.get(d);
    if (launch === undefined) throw new Error('restart: not a daemon of this mesh');
    this.launches.delete(d);
    this.daemons.splice(this.daemons.indexOf(d), 1);
    const again = this.run(launch.ns, launch.argv, launch.env);
    if (d === this.identity) this.identity = again;
    return again;
  }

  /** The netns daemon `d` runs in (undefined: this process's). */
  netnsOf(d: Daemon): string | undefined {
    return this.launches.get(d)?.ns;
  }

  /** A node's control plane in its netns: the registry (node 0 only), nsmgr-i and forwarder-i (`forwarderOf(i)` unless told). */
  node(ns: string, i: number, tunnelIp?: string, forwarder: ForwarderKind = this.forwarderOf(i)): { nsmgr: Daemon; forwarder: Daemon } {
    if (i === 0) this.registry(this, ns);
    const nsmgr = this.start(ns, 'nsmgr', {
      NSM_NAME: `nsmgr-${i}`,
      NSM_LISTEN_ON: [this.sock(`nsmgr-${i}`), ...(tunnelIp ? [`tcp://${tunnelIp}:5001`] : [])].join(','),
      NSM_REGISTRY_URL: this.sock('registry'),
      NSM_EXCLUDED_PREFIXES_FILE: join(this.dir, `excluded-${i}.yaml`),
    });
    return { nsmgr, forwarder: this.forwarder(ns, i, `forwarder-${i}`, tunnelIp, forwarder) };
  }

  forwarder(ns: string, node: number, name: string, tunnelIp?: string, kind: ForwarderKind = this.forwarderOf(node)): Daemon {
    return this.start(ns, kind.component, { ...kind.env, NSM_NAME: name, NSM_CONNECT_TO: this.sock(`nsmgr-${node}`), NSM_LISTEN_ON: this.sock(name), ...(tunnelIp ? { NSM_TUNNEL_IP: tunnelIp } : {}) });
  }

  nse(ns: string, node: number, name = 'icmp-responder', cidr = '169.254.1.0/24'): Daemon {
    return this.start(ns, 'nse-icmp-responder', { NSM_NAME: name, NSM_CONNECT_TO: this.sock(`nsmgr-${node}`), NSM_SERVICE_NAMES: 'icmp-responder', NSM_CIDR_PREFIX: cidr });
  }

  /** An nsc attached to nsmgr-0; `env`: variables of its own. */
  nsc(ns: string, services = 'kernel://icmp-responder/nsm-1', env: Record<string, string> = {}): Daemon {
    return this.start(ns, 'nsc', { NSM_NAME: 'nsc', NSM_CONNECT_TO: this.sock('nsmgr-0'), NSM_NETWORK_SERVICES: services, ...env });
  }

  /** What every daemon said (for a failed test). */
  dump(): string {
    return this.daemons.map((d) => `--- ${d.child.spawnargs.join(' ')}\n${d.out}`).join('\n');
  }

  async dispose(): Promise<void> {
    for (const w of this.watchers.splice(0)) {
      w.pool.closeAll();
      w.stop();
    }
    await Promise.all(this.daemons.splice(0).map((d) => stop(d, 'SIGKILL')));
    this.launches.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * `ping -D` every `intervalS` (50 ms) from a netns: reply times (s since the epoch, parsed as
 * they come, so a long run keeps numbers, not text), and the longest silence after a moment.
 */
export function pinger(ns: string, dst: string, intervalS = 0.05): { replies(): number[]; gap(after: number): number; stop(): void } {
  const child = spawn('ip', ['netns', 'exec', ns, 'ping', '-D', '-n', '-i', String(intervalS), dst], { stdio: ['ignore', 'pipe', 'ignore'] });
  const times: number[] = [];
  let partial = '';
  child.stdout.on('data', (b: Buffer) => {
    const lines = (partial + b.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^\[(\d+\.\d+)\] \d+ bytes from/.exec(line);
      if (m) times.push(Number(m[1]));
    }
  });
  return {
    replies: () => times,
    gap(after) {
      let worst = 0;
      for (let i = 1; i < times.length; i++) if ((times[i] as number) > after) worst = Math.max(worst, (times[i] as number) - (times[i - 1] as number));
      return worst;
    },
    stop: () => child.kill('SIGKILL'),
  };
}

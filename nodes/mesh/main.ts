import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subscription } from 'rxjs';
import { Connection, ConnectionEventType, MonitorConnectionService, State } from '../../proto/gen/connection.js';
import { Context } from '../../operators/core/context.js';
import { unixUrl } from '../../operators/tools/nsmUrl.js';
import { kernelDatapathMissing, missingCommands } from '../../dataplane/kernel/host.js';
import { serverStreamCall } from '../../streams/grpc/call.js';
import { ChannelPool } from '../../streams/grpc/channelPool.js';
import { spiffeTokenGenerator } from '../../streams/spiffe/token.js';
import { workloadApiSource } from '../../streams/spiffe/workloadApi.js';
import { defineComponent } from '../cli/component.js';
import { connectionDiagram } from './diagram.js';
import { installMissing, thisHost } from './firstRun.js';
import { duration, optional, str } from '../cli/config.js';
import { addNetns, delNetns, listNetns, netnsPids } from '../../dataplane/kernel/host.js';

const spec = {
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of every hop token; the client refreshes at 20% of it'),
  networkService: str('NSM_NETWORK_SERVICE', 'icmp-responder', 'Network service the client requests'),
  cidrPrefix: str('NSM_CIDR_PREFIX', '169.254.0.0/16', 'Address pool of the NSE'),
  dir: optional(str('NSM_MESH_DIR', '', 'Directory for the unix sockets (default: a new temp dir, removed on exit)')),
};

const say = (line: string) => process.stdout.write(`${line}\n`);
/** The nsm-rx CLI this process was started as (each part runs as `nsm-rx <component>`). */
const bin = process.argv[1] ?? 'nsm-rx';

/** Namespaces of an earlier mesh whose process is gone (killed before it could clean up). */
function removeStaleNamespaces(log: { info(msg: string, fields?: Record<string, unknown>): void }): void {
  for (const name of listNetns()) {
    const pid = /^nsm-(\d+)-(node|nsc|nse)$/.exec(name)?.[1];
    if (pid === undefined || existsSync(`/proc/${pid}`)) continue;
    // Its parts were in their own process group: they outlived it. They go with their namespace.
    for (const orphan of netnsPids(name)) {
      try {
        process.kill(orphan, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    delNetns(name);
    log.info('removed a namespace an earlier mesh left behind', { netns: name });
  }
}

/** One line for a connection: state, addresses, interfaces (from the forwarder's metrics) and path. */
export function describeConnection(conn: Connection): string {
  const segments = conn.path?.pathSegments ?? [];
  const path = segments.map((s) => s.name).join(' → ');
  const ip = conn.context?.ipContext;
  const metrics = segments.reduce<Record<string, string>>((all, s) => ({ ...all, ...s.metrics }), {});
  const interfaces = `${conn.mechanism?.parameters['name'] ?? '-'} ⇄ ${metrics['client_interface'] ?? '-'}`;
  return `${conn.id} ${State[conn.state] ?? conn.state} src=${ip?.srcIpAddrs.join(',') || '-'} dst=${ip?.dstIpAddrs.join(',') || '-'} interfaces=${interfaces} path=${path}`;
}

/**
 * `nsm-rx mesh` (what `npm start` runs): a whole local mesh on this machine's kernel, every
 * part its own OS process configured by NSM_* variables — registry-memory, nsmgr and
 * forwarder-kernel in a "node" network namespace, nse-icmp-responder and nsc each in a
 * workload namespace of their own. It draws the connection (path, addresses, interfaces), a
 * running ping from the client to the endpoint, and the nsmgr's MonitorConnection events;
 * Ctrl-C closes the connection, stops every process and deletes the namespaces.
 * Secure like a deployment: `nsm-rx identity` starts first and every part gets its X.509-SVID
 * from it (mTLS, signed tokens, default policies). This process watches the client's connection
 * at the nsmgr as the client (its registration entry names this pid), so the watch also passes
 * an nsmgr whose NSM_MONITOR_POLICIES shows callers only connections they Requested.
 */
export const component = defineComponent({
  name: 'mesh',
  summary: 'local mesh on the kernel: registry, nsmgr, forwarder, NSE and nsc as processes in netns (npm start; root)',
  spec,
  async run(config, ctx) {
    // A first run on a fresh Debian machine: what is missing is installed, not just named.
    installMissing(missingCommands(), thisHost(), say);
    const missing = kernelDatapathMissing();
    if (missing) throw new Error(`the local mesh runs on this machine's kernel and cannot start: ${missing}`);
    const dir = config.dir || (await mkdtemp(join(tmpdir(), 'nsm-rx-mesh-')));
    const sock = (name: string) => `unix://${join(dir, `${name}.sock`)}`;
    const netns = { node: `nsm-${process.pid}-node`, nsc: `nsm-${process.pid}-nsc`, nse: `nsm-${process.pid}-nse` };
    const children: { name: string; child: ChildProcess }[] = [];
    // The mesh's own variables are not its parts' (they would warn about unknown variables).
    const meshVariables = new Set(Object.values(spec).map((v) => v.env));
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !meshVariables.has(k)));
    const identityDir = join(dir, 'identity');
    const spiffeSocket = `unix://${join(identityDir, 'agent.sock')}`;
    let pool: ChannelPool | undefined;
    let stopIdentity: (() => void) | undefined;
    let events: Subscription | undefined;

    const start = (name: string, ns: string, component: string, env: Record<string, string>, onLine?: (line: string) => void) => {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, bin, component], {
        env: {
          ...inherited,
          NSM_LOG_LEVEL: process.env['NSM_LOG_LEVEL'] ?? 'WARN',
          ...(component === 'identity' ? {} : { NSM_MAX_TOKEN_LIFETIME: `${config.maxTokenLifetime}ms` }),
          SPIFFE_ENDPOINT_SOCKET: spiffeSocket,
          ...env,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
        // Its own process group: a Ctrl-C reaches only the mesh, which stops the parts in order.
        detached: true,
      });
      let buffered = '';
      child.stdout?.on('data', (b: Buffer) => {
        buffered += b.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const l of lines) (onLine ?? ((x: string) => say(`[${name}] ${x}`)))(l);
      });
      child.on('exit', (code, signal) => ctx.signal.aborted || say(`[${name}] exited (${signal ?? code})`));
      children.push({ name, child });
      return child;
    };
    const stop = (child: ChildProcess) =>
      child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => (child.once('exit', () => r()), child.kill('SIGTERM')));

    ctx.lifecycle.onShutdown('mesh', async () => {
      events?.unsubscribe();
      pool?.closeAll();
      stopIdentity?.();
      // The client first: its Close runs through the mesh while everything is still up.
      for (const { child } of children.reverse()) await stop(child);
      for (const ns of Object.values(netns)) delNetns(ns);
      // The CA is this mesh's alone: a next mesh makes its own.
      await rm(identityDir, { recursive: true, force: true });
      if (!config.dir) await rm(dir, { recursive: true, force: true });
      say('stopped every process and deleted the namespaces');
    });

    removeStaleNamespaces(ctx.log);
    for (const ns of Object.values(netns)) addNetns(ns);
    say(`namespaces: node ${netns.node}, client ${netns.nsc}, endpoint ${netns.nse}; sockets in ${dir}`);
    await mkdir(identityDir, { recursive: true });
    const entries = join(identityDir, 'entries');
    await writeFile(entries, `spiffe://nsm.local/uid/${process.getuid?.() ?? 0}/nsc unix:pid:${process.pid}\n`);
    start('identity', netns.node, 'identity', { NSM_IDENTITY_DIR: identityDir, NSM_IDENTITY_ENTRIES: entries });
    start('registry', netns.node, 'registry-memory', { NSM_LISTEN_ON: sock('registry') });
    start('nsmgr', netns.node, 'nsmgr', { NSM_NAME: 'nsmgr', NSM_LISTEN_ON: sock('nsmgr'), NSM_REGISTRY_URL: sock('registry'), NSM_EXCLUDED_PREFIXES_FILE: join(dir, 'excluded_prefixes.yaml') });
    start('forwarder', netns.node, 'forwarder-kernel', { NSM_NAME: 'forwarder', NSM_CONNECT_TO: sock('nsmgr'), NSM_LISTEN_ON: sock('forwarder') });
    start('nse', netns.nse, 'nse-icmp-responder', { NSM_NAME: 'icmp-responder', NSM_CONNECT_TO: sock('nsmgr'), NSM_SERVICE_NAMES: config.networkService, NSM_CIDR_PREFIX: config.cidrPrefix });

    const connected = new Promise<Connection>((resolveConn) =>
      start('nsc', netns.nsc, 'nsc', { NSM_NAME: 'nsc', NSM_CONNECT_TO: sock('nsmgr'), NSM_NETWORK_SERVICES: `kernel://${config.networkService}/nsm-1` }, (line) => {
        const parsed = line.startsWith('{') ? (JSON.parse(line) as { event?: string; connection?: unknown }) : undefined;
        if (parsed?.event === undefined) return say(`[nsc] ${line}`);
        const conn = Connection.fromJSON(parsed.connection);
        say(parsed.event === 'connected' ? `connected:\n${connectionDiagram(conn)}` : `${parsed.event}: ${describeConnection(conn)}`);
        if (parsed.event === 'connected') resolveConn(conn);
      }),
    );
    const conn = await Promise.race([connected, new Promise<never>((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('stopped before connecting')), { once: true }))]);

    const identity = workloadApiSource(unixUrl(join(identityDir, 'agent.sock')));
    stopIdentity = identity.stop;
    await identity.source.ready();
    pool = new ChannelPool({ source: identity.source, token: spiffeTokenGenerator(identity.source, config.maxTokenLifetime, Date.now) });
    const channel = pool.acquire(unixUrl(join(dir, 'nsmgr.sock')));
    const own = conn.path?.pathSegments[0];
    const selector = { pathSegments: own ? [{ ...own, token: '', metrics: {} }] : [], networkServices: [] };
    events = serverStreamCall(channel, MonitorConnectionService.monitorConnections, selector, Context.background).subscribe({
      next: (e) => Object.values(e.connections).forEach((c) => say(`monitor ${ConnectionEventType[e.type]}: ${describeConnection(c)}`)),
      error: (e: unknown) => ctx.signal.aborted || say(`monitor stream ended: ${String(e)}`),
    });
    const dst = conn.context?.ipContext?.dstIpAddrs[0]?.split('/')[0];
    if (dst) {
      const ping = spawn('ip', ['netns', 'exec', netns.nsc, 'ping', '-n', '-i', '1', dst], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
      ping.stdout.on('data', (b: Buffer) => b.toString().split('\n').filter(Boolean).forEach((l) => say(`[ping] ${l}`)));
      children.push({ name: 'ping', child: ping });
    }
    say('running; Ctrl-C closes the connection, stops every process and deletes the namespaces');
    await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r(), { once: true }));
  },
});

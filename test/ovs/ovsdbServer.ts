import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'vitest';

const schema = '/usr/share/openvswitch/vswitch.ovsschema';

/** Why the OVS tests cannot run here, or undefined (they need Debian's openvswitch-switch). */
export function ovsMissing(): string | undefined {
  for (const tool of ['ovsdb-server', 'ovsdb-tool', 'ovs-vswitchd', 'ovs-ofctl', 'ethtool']) {
    try {
      execFileSync('which', [tool], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (Debian packages openvswitch-switch, ethtool)`;
    }
  }
  return existsSync(schema) ? undefined : `${schema} is missing (Debian package openvswitch-switch)`;
}

/** `describe` for tests that start ovsdb-server; skipped, loudly, where it is not installed. */
export function describeOvs(name: string, body: () => void): void {
  const why = ovsMissing();
  if (why) {
    console.warn(`\n!!! SKIPPED OVS tests "${name}": ${why} (CI installs it) !!!\n`);
    describe.skip(name, body);
  } else describe(name, body);
}

/** An ovsdb-server of the test's own: a fresh Open_vSwitch database in a temp dir, on a unix socket there. */
export interface OvsdbServer {
  /** `unix:<dir>/db.sock` */
  readonly url: string;
  readonly dir: string;
  /** Stops the server (SIGKILL: as a crash) and keeps the database. */
  kill(): Promise<void>;
  /** Starts it again on the same database and socket. */
  start(): Promise<void>;
  /** Stops it and removes everything. */
  remove(): Promise<void>;
}

const exited = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

export async function startOvsdbServer(): Promise<OvsdbServer> {
  const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-ovsdb-'));
  const db = join(dir, 'conf.db');
  const socket = join(dir, 'db.sock');
  execFileSync('ovsdb-tool', ['create', db, schema]);
  let child: ChildProcess | undefined;
  const start = async () => {
    rmSync(socket, { force: true });
    child = spawn('ovsdb-server', [db, `--remote=punix:${socket}`, `--unixctl=${join(dir, 'ovsdb-server.ctl')}`, `--pidfile=${join(dir, 'ovsdb-server.pid')}`, '--no-chdir', `--log-file=${join(dir, 'ovsdb-server.log')}`], { stdio: 'ignore' });
    for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 25));
    if (!existsSync(socket)) throw new Error(`ovsdb-server did not listen on ${socket} (see ${dir}/ovsdb-server.log)`);
  };
  const kill = async () => {
    if (child === undefined) return;
    child.kill('SIGKILL');
    await exited(child);
    child = undefined;
  };
  await start();
  return {
    url: `unix:${socket}`,
    dir,
    kill,
    start,
    remove: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * ovs-vswitchd of the test's own on `db` (userspace datapath: no kernel module here), its sockets
 * in the same dir, running in network namespace `netns` (a node's): the taps it makes (ovs-netdev,
 * the bridges' internal ports) live and die there, and its ports are that netns's interfaces.
 */
export interface Vswitchd {
  /** OVS_RUNDIR for ovs-ofctl and ovs-appctl: where the bridges' management sockets are. */
  readonly rundir: string;
  stop(): Promise<void>;
}

export async function startVswitchd(db: OvsdbServer, netns: string, options: { userspaceTso?: boolean } = {}): Promise<Vswitchd> {
  const dir = db.dir;
  execFileSync('ovs-vsctl', [`--db=${db.url}`, '--no-wait', 'init']);
  // As forwarder-ovs starts it (userspace TSO), unless a test asks for the plain userspace datapath.
  execFileSync('ovs-vsctl', [`--db=${db.url}`, '--no-wait', 'set', 'Open_vSwitch', '.', `other_config:userspace-tso-enable=${String(options.userspaceTso ?? true)}`]);
  const child = spawn('ip', ['netns', 'exec', netns, 'ovs-vswitchd', db.url, `--pidfile=${join(dir, 'ovs-vswitchd.pid')}`, `--unixctl=${join(dir, 'ovs-vswitchd.ctl')}`, '--no-chdir', `--log-file=${join(dir, 'ovs-vswitchd.log')}`], {
    stdio: 'ignore',
    env: { ...process.env, OVS_RUNDIR: dir },
  });
  // Ready when it has taken the configuration (cur_cfg catches up with next_cfg).
  for (let i = 0; i < 200; i++) {
    const out = execFileSync('ovs-vsctl', [`--db=${db.url}`, '--no-wait', 'get', 'Open_vSwitch', '.', 'cur_cfg', 'next_cfg'], { encoding: 'utf8' }).trim().split('\n');
    if (out[0] === out[1] && existsSync(join(dir, 'ovs-vswitchd.ctl'))) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    rundir: dir,
    stop: async () => {
      child.kill('SIGTERM');
      await exited(child);
    },
  };
}

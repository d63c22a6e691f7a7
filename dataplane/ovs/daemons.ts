import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom } from 'rxjs';
import { exec } from '../kernel/exec.js';

const schema = '/usr/share/openvswitch/vswitch.ovsschema';

/** Open vSwitch's daemons as a forwarder finds or starts them. */
export interface OvsDaemons {
  /** `unix:<rundir>/db.sock` */
  readonly db: string;
  /** Where ovs-vswitchd keeps the bridges' management sockets (OVS_RUNDIR). */
  readonly rundir: string;
  /** `system` when the openvswitch kernel module is loaded, else `netdev` (the userspace datapath). */
  readonly datapathType: 'system' | 'netdev';
  /** Whether a forwarder started them (this one or a predecessor in the same rundir): then `stop` ends them. */
  readonly ours: boolean;
  stop(): Promise<void>;
}

/** Whether the daemon whose pidfile is `pidfile` runs (a zombie, exited but not yet reaped by its new parent, does not). */
function running(pidfile: string): boolean {
  try {
    const stat = readFileSync(`/proc/${Number(readFileSync(pidfile, 'utf8').trim())}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** Marks a rundir whose daemons a forwarder started (so its successor stops them in the end too). */
const MARK = 'started-by-nsm-rx';

async function waitFor(what: string, ready: () => boolean, log: string): Promise<void> {
  for (let i = 0; i < 400 && !ready(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!ready()) throw new Error(`${what}: not done in 10 s (see ${log})`);
}

/**
 * The OVS a forwarder programs (upstream cmd-forwarder-ovs starts ovsdb-server and ovs-vswitchd
 * itself when none runs): those running in `rundir` (by their pidfiles, e.g. a crashed
 * predecessor's), else new ones there, with a database made from Debian's schema, the userspace
 * datapath (with userspace TSO) where the kernel module is not loaded. New daemons run detached from this process's
 * life (a forwarder killed with -9 leaves the data plane running for its successor), and `stop`
 * ends the daemons a forwarder started there; ones it found that no forwarder started stay.
 */
export async function ensureOvsDaemons(rundir: string): Promise<OvsDaemons> {
  mkdirSync(rundir, { recursive: true });
  const datapathType = existsSync('/sys/module/openvswitch') ? 'system' : 'netdev';
  const db = join(rundir, 'conf.db');
  const socket = join(rundir, 'db.sock');
  const pid = (d: string) => join(rundir, `${d}.pid`);
  const daemon = (file: string, args: string[]) => {
    writeFileSync(join(rundir, MARK), '');
    const child = spawn(file, [...args, `--pidfile=${pid(file)}`, `--unixctl=${join(rundir, `${file}.ctl`)}`, '--no-chdir', `--log-file=${join(rundir, `${file}.log`)}`], {
      stdio: 'ignore',
      detached: true,
      env: { ...process.env, OVS_RUNDIR: rundir },
    });
    child.unref();
  };
  if (!running(pid('ovsdb-server'))) {
    if (!existsSync(db)) await lastValueFrom(exec('ovsdb-tool', ['create', db, schema]));
    daemon('ovsdb-server', [db, `--remote=punix:${socket}`]);
    await waitFor('ovsdb-server', () => existsSync(socket) && running(pid('ovsdb-server')), join(rundir, 'ovsdb-server.log'));
    await lastValueFrom(exec('ovs-vsctl', [`--db=unix:${socket}`, '--no-wait', 'init']));
  }
  if (!running(pid('ovs-vswitchd'))) {
    // Read only at its start: TCP through the userspace datapath at several times the speed, checksums done right.
    if (datapathType === 'netdev') await lastValueFrom(exec('ovs-vsctl', [`--db=unix:${socket}`, '--no-wait', 'set', 'Open_vSwitch', '.', 'other_config:userspace-tso-enable=true']));
    daemon('ovs-vswitchd', [`unix:${socket}`]);
    await waitFor('ovs-vswitchd', () => existsSync(join(rundir, 'ovs-vswitchd.ctl')) && running(pid('ovs-vswitchd')), join(rundir, 'ovs-vswitchd.log'));
  }
  return {
    db: `unix:${socket}`,
    rundir,
    datapathType,
    ours: existsSync(join(rundir, MARK)),
    stop: async () => {
      if (!existsSync(join(rundir, MARK))) return;
      for (const d of ['ovs-vswitchd', 'ovsdb-server']) {
        if (!running(pid(d))) continue;
        process.kill(Number(readFileSync(pid(d), 'utf8').trim()), 'SIGTERM');
        await waitFor(`${d} to stop`, () => !running(pid(d)), join(rundir, `${d}.log`));
      }
      rmSync(join(rundir, MARK), { force: true });
    },
  };
}

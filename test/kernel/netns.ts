import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { delNetns } from '../../dataplane/kernel/host.js';

export { addNetns, delNetns } from '../../dataplane/kernel/host.js';

const hadEtcNetns = existsSync('/etc/netns');

/**
 * Deletes a netns with its resolver folder, /etc/netns/NAME, which an nsc killed by the test
 * (not stopped) leaves: a pod's files go with the pod.
 */
export function removeNetns(name: string): void {
  delNetns(name);
  rmSync(`/etc/netns/${name}`, { recursive: true, force: true });
  if (hadEtcNetns) return;
  try {
    rmdirSync('/etc/netns');
  } catch {
    // still used by another test's netns, or never made
  }
}

/** A named netns as the `inode://dev/ino` URL an NSC or NSE would send. */
export function inodeUrlOf(name: string): string {
  const st = statSync(`/run/netns/${name}`);
  return `inode://${st.dev}/${st.ino}`;
}

/**
 * Starts a process living in netns `name` that is not a child of ours (its shell is gone), as a
 * workload is: its pid. The test kills it.
 */
export function startWorkload(name: string): number {
  return Number(execFileSync('sh', ['-c', `ip netns exec ${name} sleep 300 >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' }).trim());
}

/** `ip -j …` in a named netns, parsed. */
export function ipJson<T>(netns: string, args: string[]): T {
  return JSON.parse(execFileSync('ip', ['-n', netns, '-j', ...args], { encoding: 'utf8' }) || '[]') as T;
}

/** What the resolver of netns `from` makes of `name` (glibc, as any program there would ask), '' when nothing. */
export const resolves = (from: string, name: string): string => spawnSync('ip', ['netns', 'exec', from, 'getent', 'ahostsv4', name], { encoding: 'utf8' }).stdout.split(/\s+/)[0] ?? '';

/** Whether `dst` answers ping from netns `from` (1 s budget). */
export function pings(from: string, dst: string): boolean {
  try {
    execFileSync('ip', ['netns', 'exec', from, 'ping', '-c', '1', '-W', '1', dst], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Sends `bytes` over TCP from netns `from` to `addr:port` served in netns `to` (a Node server
 * started there) and answers how many bytes the server received. Catches what ping misses
 * (checksum offload, MTU).
 */
export async function tcpTransfer(from: string, to: string, addr: string, bytes: number, port = 5201): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', to, process.execPath, '-e', `require('net').createServer((s) => { let n = 0; s.on('data', (d) => (n += d.length)); s.on('end', () => s.end(String(n))); }).listen(${port}, '${addr}', () => console.log('ready'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout.once('data', () => resolve());
      server.once('exit', (code) => reject(new Error(`tcp server exited ${code}`)));
    });
    const out = execFileSync('ip', ['netns', 'exec', from, process.execPath, '-e', `const s = require('net').connect(${port}, '${addr}', () => s.end(Buffer.alloc(${bytes}, 7))); let r = ''; s.on('data', (d) => (r += d)); s.on('end', () => console.log(r));`], { encoding: 'utf8', timeout: 20_000 });
    return Number(out.trim());
  } finally {
    server.kill('SIGKILL');
  }
}

/** Joins two node netns with a veth "underlay" carrying `a` and `b` (CIDRs) on devices u0/u1. */
export function underlay(nodeA: string, nodeB: string, a: string, b: string): void {
  execFileSync('ip', ['link', 'add', 'u0', 'netns', nodeA, 'type', 'veth', 'peer', 'name', 'u1', 'netns', nodeB]);
  for (const [n, dev, addr] of [[nodeA, 'u0', a], [nodeB, 'u1', b]] as const) {
    execFileSync('ip', ['-n', n, 'addr', 'add', addr, 'dev', dev]);
    execFileSync('ip', ['-n', n, 'link', 'set', dev, 'up']);
  }
}

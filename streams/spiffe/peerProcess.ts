import { readdir, readFile, readlink } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What the kernel tells about the process at the other end of a unix socket (a workload attestor's view). */
export interface PeerProcess {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /** Its executable (`/proc/<pid>/exe`). */
  readonly path: string;
  readonly argv: readonly string[];
  readonly env: ReadonlyMap<string, string>;
}

/** The inode of the socket behind `fd` in this process. */
async function inodeOfFd(fd: number): Promise<string | undefined> {
  const link = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
  return /^socket:\[(\d+)\]$/.exec(link)?.[1];
}

/** The peer inode of unix socket `inode` in the `ss -xnH` listing of one network namespace. */
function peerIn(listing: string, inode: string): string | undefined {
  for (const line of listing.split('\n')) {
    const m = /\s(\d+)\s+\S+\s+(\d+)\s*$/.exec(line);
    if (m?.[1] === inode) return m[2];
  }
  return undefined;
}

/** One process of each network namespace other than ours (to look at its sockets). */
async function otherNamespaces(): Promise<number[]> {
  const own = await readlink('/proc/self/ns/net').catch(() => '');
  const seen = new Map<string, number>();
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const ns = await readlink(`/proc/${d}/ns/net`).catch(() => '');
    if (ns !== '' && ns !== own && !seen.has(ns)) seen.set(ns, Number(d));
  }
  return [...seen.values()];
}

/**
 * The inode of the peer of our unix socket `inode` (sock_diag through `ss`: Node has no
 * SO_PEERCRED). An accepted socket belongs to the network namespace of the process that
 * connected, so a caller from another namespace is looked up there.
 */
async function peerInode(inode: string): Promise<string | undefined> {
  const here = peerIn((await run('ss', ['-xnH'])).stdout, inode);
  if (here !== undefined) return here;
  for (const pid of await otherNamespaces()) {
    const listing = await run('nsenter', [`--net=/proc/${pid}/ns/net`, 'ss', '-xnH']).then((r) => r.stdout, () => '');
    const there = peerIn(listing, inode);
    if (there !== undefined) return there;
  }
  return undefined;
}

/** The process holding socket `inode` (scans /proc: the peer may live in another network namespace). */
async function pidHolding(inode: string): Promise<number | undefined> {
  const target = `socket:[${inode}]`;
  // Newest processes first: the caller usually just started.
  const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d)).map(Number).sort((a, b) => b - a);
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === target) return pid;
  }
  return undefined;
}

async function describe(pid: number): Promise<PeerProcess> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  const nulSplit = (raw: string) => raw.split('\0').filter((s) => s !== '');
  const argv = nulSplit(await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''));
  const env = new Map<string, string>();
  for (const kv of nulSplit(await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => ''))) {
    const eq = kv.indexOf('=');
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return { pid, uid: field('Uid'), gid: field('Gid'), path: await readlink(`/proc/${pid}/exe`).catch(() => ''), argv, env };
}

/** The process at the other end of an accepted unix-socket connection, or undefined if it cannot be told. */
export async function peerProcess(socket: Socket): Promise<PeerProcess | undefined> {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return undefined;
  const own = await inodeOfFd(fd);
  const peer = own && (await peerInode(own));
  const pid = peer && (await pidHolding(peer));
  return pid ? describe(pid).catch(() => undefined) : undefined;
}

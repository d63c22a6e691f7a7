import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { status } from '../../operators/core/status.js';
import { invalidArgument, notFound, statusOf } from '../../operators/core/errors.js';
import { inodeLookup, inodeUrlOf } from '../../streams/inodes.js';

/** Where a mechanism's `inodeURL` points: a file naming a netns, or a netns's nsfs identity. */
export type NetnsRef = { readonly kind: 'file'; readonly path: string } | { readonly kind: 'inode'; readonly href: string };

/**
 * Reads an `inodeURL` as upstream peers send it: `file:///proc/<pid>/ns/net` (or any path
 * naming a netns, e.g. `file:///var/run/netns/NAME`), or `inode://<st_dev>/<st_ino>` — what
 * upstream's sendfd rewrites a file URL to; we find it without fd passing by its identity.
 * `/proc/self/…` and `/proc/thread-self/…` name the *sender's* netns only before sendfd turns
 * them into a passed fd: read here they would name ours, so they are refused.
 */
export function parseNetnsUrl(url: string): NetnsRef {
  const inode = /^inode:\/\/(\d+)\/(\d+)$/.exec(url);
  if (inode) return { kind: 'inode', href: `inode://${BigInt(inode[1] ?? 0)}/${BigInt(inode[2] ?? 0)}` };
  if (url.startsWith('file:///')) {
    const path = decodeURIComponent(url.slice('file://'.length));
    if (/^\/proc\/(self|thread-self)\//.test(path)) throw invalidArgument(`inodeURL "${url}": names the sender's own netns, which only a passed file descriptor (grpcfd) carries; send file:///proc/<pid>/ns/net or inode://<dev>/<ino>`);
    return { kind: 'file', path };
  }
  throw invalidArgument(`inodeURL "${url}": want file:///proc/<pid>/ns/net, file:///var/run/netns/<name> or inode://<dev>/<ino>`);
}

/** The initial PID namespace's nsfs inode (the kernel's PROC_PID_INIT_INO): the host's. */
const hostPidNamespace = 'pid:[4026531836]';

/**
 * This process's netns as a mechanism's `inodeURL`. We cannot pass the fd as upstream's sendfd
 * does (grpc-js has no SCM_RIGHTS), and an `inode://` URL without its fd makes an upstream
 * peer's recvfd wait for it until the call times out; so on the host's PID namespace it is
 * `file:///proc/<pid>/ns/net`, a file URL any root process on the host can open and upstream's
 * sendfd passes on as one. In a PID namespace of its own (a Pod) that pid means another process
 * to the host-PID forwarder: there it is the netns's `inode://dev/ino`, which the forwarder finds
 * among the host's processes.
 */
export function ownNetnsUrl(pidNamespace = readlinkSync('/proc/self/ns/pid')): string {
  if (pidNamespace === hostPidNamespace) return `file:///proc/${process.pid}/ns/net`;
  const identity = inodeUrlOf('/proc/self/ns/net');
  if (identity === undefined) throw new Error('cannot stat /proc/self/ns/net');
  return identity;
}

/** The namespace an `inodeURL` names, as `inode://dev/ino` (one netns, however its URLs differ). */
export function netnsIdentity(url: string): string {
  const ref = parseNetnsUrl(url);
  if (ref.kind === 'inode') return ref.href;
  const identity = inodeUrlOf(ref.path);
  if (identity === undefined) throw notFound(`inodeURL "${url}": cannot open ${ref.path}`);
  return identity;
}

/** A file URL's namespace as `inode://dev/ino` (what upstream's sendfd makes of it); undefined when it cannot be opened. */
export function inodeUrlOfFile(url: string): string | undefined {
  try {
    return netnsIdentity(url);
  } catch {
    return undefined;
  }
}

/** The netns `ip netns add` named: their names and bind-mount paths. */
export function* namedNetns(): Generator<{ name: string; path: string }> {
  for (const dir of ['/run/netns', '/var/run/netns']) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) yield { name, path: `${dir}/${name}` };
  }
}

/** Every path on this host naming a netns: named ones first, then one per process. */
function* netnsPaths(): Generator<string> {
  for (const { path } of namedNetns()) yield path;
  for (const pid of readdirSync('/proc')) if (/^\d+$/.test(pid)) yield `/proc/${pid}/ns/net`;
}

const findNetns = inodeLookup(netnsPaths);

/** The parent of process `pid`; undefined when it is gone. */
function parentOf(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * A process in the netns `identity` (`inode://dev/ino`) that is not a child of ours — the
 * workload living there, which keeps it alive — or undefined when none is (a bind mount alone
 * keeps it). The lowest pid is found first: usually the oldest, the workload itself.
 */
export function netnsHolder(identity: string): number | undefined {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || inodeUrlOf(`/proc/${pid}/ns/net`) !== identity) continue;
    const parent = parentOf(pid);
    if (parent !== undefined && parent !== process.pid) return Number(pid);
  }
  return undefined;
}

/** A path for `ref` that can be opened now (NOT_FOUND when no netns has that identity). */
function pathOf(ref: NetnsRef, url: string): string {
  if (ref.kind === 'file') return ref.path;
  const path = findNetns(ref.href);
  if (path === undefined) throw notFound(`inodeURL "${url}": no network namespace with that inode on this host`);
  return path;
}

/**
 * An open netns: the fd keeps it alive and addressable (`path`, usable by `ip link … netns`
 * and `nsenter --net=`) even after its process is gone, so Close can still clean up.
 */
export interface Netns {
  readonly path: string;
  /** nsfs inode: equal inodes are the same namespace. */
  readonly ino: number;
  close(): void;
}

/** A namespace file is a net one when /proc shows it so, or it was found as a netns bind mount. */
function isNetNamespace(path: string): boolean {
  try {
    return /^net:\[\d+\]$/.test(readlinkSync(path));
  } catch {
    return true; // not a symlink: a bind-mounted nsfs file (/run/netns/NAME); its dev was checked
  }
}

/** Opens the netns an `inodeURL` names; INVALID_ARGUMENT / NOT_FOUND name the URL. */
export function openNetns(url: string): Netns {
  const path = pathOf(parseNetnsUrl(url), url);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    throw notFound(`inodeURL "${url}": cannot open ${path}`);
  }
  const self = `/proc/${process.pid}/fd/${fd}`;
  // Every namespace file lives on the one nsfs; a net one reads as net:[ino] through /proc.
  const st = statSync(self);
  if (st.dev !== statSync('/proc/self/ns/net').dev || !isNetNamespace(path)) {
    closeSync(fd);
    throw invalidArgument(`inodeURL "${url}": ${path} is not a network namespace`);
  }
  let open = true;
  return {
    path: self,
    ino: st.ino,
    close: () => {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/**
 * Runs `work` with the netns an `inodeURL` names opened, and closes it after. Undefined when
 * that netns no longer exists (then nothing of ours is left in it either).
 */
export async function inNetns<T>(url: string, work: (path: string) => Promise<T>): Promise<T | undefined> {
  let netns: Netns;
  try {
    netns = openNetns(url);
  } catch (e) {
    if (statusOf(e) === status.NOT_FOUND) return undefined;
    throw e;
  }
  try {
    return await work(netns.path);
  } finally {
    netns.close();
  }
}

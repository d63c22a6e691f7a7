import { readdirSync, readFileSync, statSync } from 'node:fs';
import { notFound } from '../../operators/core/errors.js';
import { unixUrl, type NsmUrl } from '../../operators/tools/nsmUrl.js';

type InodeUrl = Extract<NsmUrl, { scheme: 'inode' }>;

/** __SO_ACCEPTCON in /proc/net/unix: a listening socket. */
const LISTENING = 0x10000;

/** Where each inode URL was last found (checked again before use: a socket can be re-bound). */
const lastSeen = new Map<string, string>();

const names = (path: string, url: InodeUrl): boolean => {
  try {
    const st = statSync(path, { bigint: true });
    return String(st.dev) === url.dev && String(st.ino) === url.ino;
  } catch {
    return false; // gone while we looked
  }
};

/** Paths of listening unix sockets, once per network namespace (/proc/<pid>/net/unix is per netns). */
function* listeningPaths(): Generator<string> {
  const seen = new Set<bigint>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let table: string;
    try {
      const netns = statSync(`/proc/${pid}/ns/net`, { bigint: true }).ino;
      if (seen.has(netns)) continue;
      seen.add(netns);
      table = readFileSync(`/proc/${pid}/net/unix`, 'utf8');
    } catch {
      continue; // processes come and go while we scan
    }
    for (const line of table.split('\n').slice(1)) {
      const [, , , flags, , , , path] = line.trim().split(/\s+/);
      if (path?.startsWith('/') && (parseInt(flags ?? '0', 16) & LISTENING) !== 0) yield path;
    }
  }
}

/**
 * The unix socket an `inode://dev/ino` URL names. Upstream's sendfd registers an endpoint's
 * `unix://` URL as the inode of its socket file and passes the fd alongside; grpc-js cannot
 * take that fd, so we find a listening socket whose file has that identity through
 * /proc/<pid>/net/unix (in every netns). Paths are read in our mount namespace, as on a node.
 * @throws NOT_FOUND naming the URL when no listening socket has that inode.
 */
export function socketOfInode(url: InodeUrl): NsmUrl {
  const known = lastSeen.get(url.href);
  if (known !== undefined && names(known, url)) return unixUrl(known);
  for (const path of listeningPaths()) {
    if (!names(path, url)) continue;
    lastSeen.set(url.href, path);
    return unixUrl(path);
  }
  lastSeen.delete(url.href);
  throw notFound(`${url.href}: no listening unix socket with that inode on this host (it names a socket passed as a file descriptor)`);
}

/** A socket file's identity as the `inode://dev/ino` URL upstream's sendfd makes of it; undefined when it is gone. */
export function inodeUrlOfSocket(path: string): string | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return `inode://${st.dev}/${st.ino}`;
  } catch {
    return undefined;
  }
}

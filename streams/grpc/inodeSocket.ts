import { readdirSync, readFileSync, statSync } from 'node:fs';
import { inodeLookup } from '../inodes.js';
import { notFound } from '../../operators/core/errors.js';
import { unixUrl, type NsmUrl } from '../../operators/tools/nsmUrl.js';

type InodeUrl = Extract<NsmUrl, { scheme: 'inode' }>;

/** __SO_ACCEPTCON in /proc/net/unix: a listening socket. */
const LISTENING = 0x10000;

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

const findSocket = inodeLookup(listeningPaths);

/**
 * The unix socket an `inode://dev/ino` URL names. Upstream's sendfd registers an endpoint's
 * `unix://` URL as the inode of its socket file and passes the fd alongside; Node's HTTP/2 cannot
 * take that fd, so we find a listening socket whose file has that identity through
 * /proc/<pid>/net/unix (in every netns). Paths are read in our mount namespace, as on a node.
 * @throws NOT_FOUND naming the URL when no listening socket has that inode.
 */
export function socketOfInode(url: InodeUrl): NsmUrl {
  const path = findSocket(url.href);
  if (path === undefined) throw notFound(`${url.href}: no listening unix socket with that inode on this host (it names a socket passed as a file descriptor)`);
  return unixUrl(path);
}

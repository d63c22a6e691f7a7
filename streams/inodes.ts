import { statSync } from 'node:fs';

/** A file's identity as upstream's sendfd names it, `inode://<st_dev>/<st_ino>`; undefined when it cannot be stat'ed. */
export function inodeUrlOf(path: string): string | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return `inode://${st.dev}/${st.ino}`;
  } catch {
    return undefined; // gone, or never there
  }
}

/** Remembered places at most: workloads come and go, their inodes with them. */
const MAX_REMEMBERED = 4096;

/**
 * A lookup of the path whose file has a given `inode://` identity among `candidates()` (a scan
 * of /proc), remembering where each was last found: checked again before use (a pid or a socket
 * path can be reused), forgotten when gone.
 */
export function inodeLookup(candidates: () => Iterable<string>): (inodeUrl: string) => string | undefined {
  const lastSeen = new Map<string, string>();
  return (inodeUrl) => {
    const known = lastSeen.get(inodeUrl);
    if (known !== undefined && inodeUrlOf(known) === inodeUrl) return known;
    lastSeen.delete(inodeUrl);
    for (const path of candidates()) {
      if (inodeUrlOf(path) !== inodeUrl) continue;
      if (lastSeen.size >= MAX_REMEMBERED) lastSeen.clear();
      lastSeen.set(inodeUrl, path);
      return path;
    }
    return undefined;
  };
}

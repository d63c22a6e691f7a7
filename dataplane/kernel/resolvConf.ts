import { existsSync, mkdirSync, readFileSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DNSConfig } from '../../proto/gen/connectioncontext.js';
import { inodeUrlOf } from '../../streams/inodes.js';
import { namedNetns } from './netns.js';

/** The name `ip netns add` gave this process's netns, if any (a bind mount of it under /run/netns). */
export function ownNetnsName(): string | undefined {
  const own = inodeUrlOf('/proc/self/ns/net');
  for (const { name, path } of namedNetns()) if (inodeUrlOf(path) === own) return name;
  return undefined;
}

/**
 * The resolver configuration the programs of this process's network namespace read, and why —
 * never the host's: in a netns made by `ip netns add NAME`, /etc/netns/NAME/resolv.conf, which
 * `ip netns exec NAME` mounts over /etc/resolv.conf for the programs it starts; else in a pod
 * (KUBERNETES_SERVICE_HOST set) the pod's own /etc/resolv.conf, as upstream cmd-nsc; otherwise
 * none (the host's netns, or an unnamed one, shares the host's /etc/resolv.conf).
 */
export function clientResolvConf(env: Readonly<Record<string, string | undefined>>): { path: string; why: string } | undefined {
  const name = ownNetnsName();
  if (name !== undefined) return { path: `/etc/netns/${name}/resolv.conf`, why: `what "ip netns exec ${name}" shows as /etc/resolv.conf` };
  return env['KUBERNETES_SERVICE_HOST'] !== undefined ? { path: '/etc/resolv.conf', why: 'the pod’s own (KUBERNETES_SERVICE_HOST is set)' } : undefined;
}

const HEADER = '# nsm-rx nsc: this resolver asks the nsc’s local DNS proxy; restored when the nsc stops.';
const NO_ORIGINAL = '# (there was no file here: it is removed when the nsc stops)';
const ORIGINAL = '#> ';

/** What a file this module wrote held before (a crashed nsc's leftover): the text, or null when there was none. */
function originalOf(text: string): string | null | undefined {
  const lines = text.split('\n');
  if (lines[0] !== HEADER) return undefined;
  if (lines[1] === NO_ORIGINAL) return null;
  return lines
    .filter((l) => l.startsWith(ORIGINAL))
    .map((l) => l.slice(ORIGINAL.length))
    .join('\n');
}

/** The words after `key` on each resolv.conf line starting with it. */
const values = (text: string, keys: readonly string[]): string[] =>
  text.split('\n').flatMap((line) => {
    const [key, ...words] = line.trim().split(/\s+/);
    return key !== undefined && keys.includes(key) ? words : [];
  });

/** Removes `dir` and its parents up to `top`, stopping at one still in use (another netns's folder). */
function removeUpTo(dir: string, top: string): void {
  try {
    rmdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTEMPTY') return;
    throw e;
  }
  if (dir !== top) removeUpTo(dirname(dir), top);
}

export interface ManagedResolvConf {
  /** The servers and search domains the file named before (upstream's fallback config for the proxy); undefined when none. */
  readonly original: DNSConfig | undefined;
  /** Rewrites the search line: the original's domains, then `searchDomains` (the connections'). */
  search(searchDomains: readonly string[]): void;
  /** Puts back what was there (or removes the file, and the folders it made). */
  restore(): void;
}

/**
 * Points the resolv.conf at `path` at `nameserver` (the local DNS proxy) as upstream's
 * dnscontext client does — the original servers become the proxy's fallback, its options stay —
 * keeping the original in the file itself, commented, so a crashed nsc's successor restores it.
 * Writes in place: a bind mount of the file (kubelet's, `ip netns exec`'s) sees every change.
 */
export function manageResolvConf(path: string, nameserver: string): ManagedResolvConf {
  const dir = dirname(path);
  const current = existsSync(path) ? readFileSync(path, 'utf8') : null;
  const leftover = current === null ? undefined : originalOf(current);
  const original = leftover === undefined ? current : leftover;
  const servers = original === null ? [] : values(original, ['nameserver']).filter((s) => s !== nameserver);
  const originalSearch = original === null ? [] : values(original, ['search', 'domain']);
  const options = original === null ? [] : original.split('\n').filter((l) => l.trim().startsWith('options'));
  let written = '';
  const write = (searchDomains: readonly string[]) => {
    const search = [...new Set([...originalSearch, ...searchDomains])];
    const text = [
      HEADER,
      ...(original === null ? [NO_ORIGINAL] : original.split('\n').map((l) => `${ORIGINAL}${l}`)),
      `nameserver ${nameserver}`,
      ...(search.length > 0 ? [`search ${search.join(' ')}`] : []),
      ...options,
      '',
    ].join('\n');
    if (text === written) return;
    writeFileSync(path, text);
    written = text;
  };
  const madeFrom = mkdirSync(dir, { recursive: true }); // the topmost folder it made (/etc/netns), if any
  write([]);
  return {
    original: servers.length > 0 ? DNSConfig.fromPartial({ dnsServerIps: servers, searchDomains: originalSearch }) : undefined,
    search: write,
    restore() {
      if (original !== null) return writeFileSync(path, original);
      unlinkSync(path);
      if (madeFrom !== undefined) removeUpTo(dir, madeFrom);
    },
  };
}

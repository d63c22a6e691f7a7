/**
 * The endpoint URLs NSM puts in `NSM_LISTEN_ON`, `NSM_CONNECT_TO`, `NSM_REGISTRY_URL` and in
 * registered NSE URLs, as a small tagged union rather than WHATWG `URL`: `URL` cannot represent
 * the bare `registry:5002` form (it reads `registry` as a scheme) and leaves each caller to
 * re-derive "is this a socket path or a host and port". Upstream accepts:
 *
 * - `unix:///abs/path` (also `unix:/abs/path`): a unix socket;
 * - `tcp://host:port`, `tcp://:port` (all interfaces), `tcp://[::1]:port`;
 * - bare `host:port` / `[v6]:port`: a gRPC passthrough target, which is TCP;
 * - `inode://dev/ino`: a socket passed as a file descriptor (grpcfd/sendfd).
 */

export type NsmUrl =
  | { readonly scheme: 'unix'; readonly path: string; readonly href: string }
  /** `host` is '' for "all interfaces" (`tcp://:5002`); IPv6 hosts are kept without brackets. */
  | { readonly scheme: 'tcp'; readonly host: string; readonly port: number; readonly href: string }
  /** Decimal strings: 64-bit device and inode numbers do not fit a JS number. */
  | { readonly scheme: 'inode'; readonly dev: string; readonly ino: string; readonly href: string };

/** What a valid value looks like, for error messages. */
export const NSM_URL_FORMS = 'unix:///path, tcp://host:port or host:port';

const hostPort = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;

export function unixUrl(path: string): NsmUrl {
  return { scheme: 'unix', path, href: `unix://${path}` };
}

export function tcpUrl(host: string, port: number): NsmUrl {
  return { scheme: 'tcp', host, port, href: `tcp://${hostPort(host, port)}` };
}

/** Splits `host:port` / `[v6]:port` / `:port`; undefined when it is not that shape. */
function splitHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.%\w-]+)\]|([^\s/:@?#[\]]*)):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? '', port };
}

/**
 * Parses an NSM endpoint URL.
 * @throws Error saying which of the accepted forms was expected.
 */
export function parseNsmUrl(input: string): NsmUrl {
  const s = input.trim();
  const bad = (why: string): Error => new Error(`${JSON.stringify(input)}: ${why}`);
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(s)?.[1]?.toLowerCase();
  if (scheme === 'unix' || (scheme === undefined && /^unix:\//i.test(s))) {
    // Go's url.Parse: the authority of unix://host/path is dropped by gRPC; only the path counts.
    const rest = s.replace(/^unix:(\/\/[^/]*)?/i, '');
    if (!rest.startsWith('/') || rest.length < 2) throw bad('a unix URL needs an absolute path, e.g. unix:///var/lib/networkservicemesh/nsm.io.sock');
    let path: string;
    try {
      path = decodeURIComponent(rest);
    } catch {
      throw bad('bad %-escape in the path');
    }
    return unixUrl(path);
  }
  if (scheme === 'tcp') {
    const hp = splitHostPort(s.slice('tcp://'.length).replace(/\/$/, ''));
    if (!hp) throw bad('a tcp URL needs a port, e.g. tcp://localhost:5001 or tcp://:5001');
    return tcpUrl(hp.host, hp.port);
  }
  if (scheme === 'inode') {
    const m = /^inode:\/\/(\d+)\/(\d+)$/i.exec(s);
    if (!m?.[1] || !m[2]) throw bad('an inode URL is inode://<dev>/<ino>');
    return { scheme: 'inode', dev: m[1], ino: m[2], href: `inode://${m[1]}/${m[2]}` };
  }
  if (scheme !== undefined) throw bad(`unsupported scheme "${scheme}"; expected ${NSM_URL_FORMS}`);
  const hp = splitHostPort(s);
  if (!hp || hp.host === '') throw bad(`expected ${NSM_URL_FORMS}`);
  return tcpUrl(hp.host, hp.port);
}

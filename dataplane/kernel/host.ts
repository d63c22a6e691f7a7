import { execFileSync } from 'node:child_process';

/**
 * What this host lacks for the kernel datapath, in words a user can act on, or undefined when
 * it has everything: root (CAP_NET_ADMIN over every netns), iproute2's `ip`, util-linux's
 * `nsenter`, and `ping` for the liveness check.
 */
export function kernelDatapathMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'the kernel datapath needs root (network namespaces, veth and VXLAN devices)';
  const missing = [
    ['ip', ['-V'], 'iproute2'],
    ['nsenter', ['--version'], 'util-linux'],
    ['ping', ['-V'], 'iputils-ping'],
  ].filter(([cmd, args]) => {
    try {
      execFileSync(cmd as string, args as string[], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) return `missing commands: ${missing.map(([cmd, , pkg]) => `${String(cmd)} (Debian package ${String(pkg)})`).join(', ')}`;
  return undefined;
}

/**
 * Upstream's NSM_TUNNEL_IP default: the first address of the interface holding the default
 * route in this netns; undefined when there is none (then only local connections work).
 */
export function defaultRouteIp(): string | undefined {
  try {
    const routes = JSON.parse(execFileSync('ip', ['-j', 'route', 'show', 'default'], { encoding: 'utf8' }) || '[]') as { dev?: string }[];
    const dev = routes[0]?.dev;
    if (dev === undefined) return undefined;
    const addrs = JSON.parse(execFileSync('ip', ['-j', '-4', 'addr', 'show', 'dev', dev], { encoding: 'utf8' }) || '[]') as { addr_info?: { local?: string }[] }[];
    return addrs[0]?.addr_info?.[0]?.local;
  } catch {
    return undefined;
  }
}

/** Makes a named netns (/run/netns/NAME) with its loopback up. */
export function addNetns(name: string): void {
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

/** Deletes a named netns (and with it every interface in it); a missing one is fine. */
export function delNetns(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // not there (any more)
  }
}

/** The names of the named netns (/run/netns). */
export function listNetns(): string[] {
  try {
    return (JSON.parse(execFileSync('ip', ['-j', 'netns', 'list'], { encoding: 'utf8' }) || '[]') as { name: string }[]).map((n) => n.name);
  } catch {
    return [];
  }
}

/** The processes in a named netns (`ip netns pids`). */
export function netnsPids(name: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

import { execFileSync } from 'node:child_process';

/** A command the kernel datapath runs, and the Debian package that has it. */
export interface NeededCommand {
  readonly command: string;
  readonly pkg: string;
}

const NEEDED: readonly (NeededCommand & { readonly probe: readonly string[] })[] = [
  { command: 'ip', probe: ['-V'], pkg: 'iproute2' },
  { command: 'nsenter', probe: ['--version'], pkg: 'util-linux' },
  { command: 'ping', probe: ['-V'], pkg: 'iputils-ping' },
];

/** The commands of the kernel datapath this host cannot run: iproute2's `ip`, util-linux's `nsenter`, `ping` for the liveness check. */
export function missingCommands(): NeededCommand[] {
  return NEEDED.filter(({ command, probe }) => {
    try {
      execFileSync(command, probe, { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  }).map(({ command, pkg }) => ({ command, pkg }));
}

/**
 * What this host lacks for the kernel datapath, in words a user can act on, or undefined when
 * it has everything: root (CAP_NET_ADMIN over every netns) and the commands it runs.
 */
export function kernelDatapathMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'the kernel datapath needs root (network namespaces, veth and VXLAN devices)';
  const missing = missingCommands();
  if (missing.length) return `missing commands: ${missing.map((m) => `${m.command} (Debian package ${m.pkg})`).join(', ')}`;
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

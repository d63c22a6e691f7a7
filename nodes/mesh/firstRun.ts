import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { NeededCommand } from '../../dataplane/kernel/host.js';

/** What installing needs to know of the host, and how it runs a command (the real one: execFileSync, output shown). */
export interface Host {
  readonly root: boolean;
  /** /etc/os-release's text ('' when there is none). */
  readonly osRelease: string;
  readonly aptGet: boolean;
  run(command: string, args: readonly string[]): void;
}

export const thisHost = (): Host => ({
  root: process.getuid?.() === 0,
  osRelease: existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '',
  aptGet: ['/usr/bin/apt-get', '/bin/apt-get'].some((p) => existsSync(p)),
  run: (command, args) => void execFileSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }),
});

/** Debian, Ubuntu and their kin (os-release's ID or ID_LIKE names debian or ubuntu). */
export const debianLike = (osRelease: string): boolean => /^(ID|ID_LIKE)="?[^"\n]*\b(debian|ubuntu)\b/m.test(osRelease);

/**
 * A first run on a fresh Debian or Ubuntu machine: as root, the packages of the `missing`
 * commands are installed with apt-get (the package lists updated first), told in one line
 * (`say`) — what and why. Elsewhere nothing is done (the caller names what is missing, as
 * before). Returns whether it installed anything.
 */
export function installMissing(missing: readonly NeededCommand[], host: Host, say: (line: string) => void): boolean {
  if (missing.length === 0 || !host.root || !host.aptGet || !debianLike(host.osRelease)) return false;
  const packages = [...new Set(missing.map((m) => m.pkg))];
  say(`installing ${packages.join(' ')} with apt-get: the local mesh runs ${missing.map((m) => m.command).join(', ')}, which this machine lacks`);
  host.run('apt-get', ['update', '-qq']);
  host.run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages]);
  return true;
}

import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { afterEach, describe } from 'vitest';

/** Why kernel tests cannot run here (not root, no iproute2), or undefined when they can. */
export function kernelUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    execFileSync('nsenter', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'iproute2 or nsenter (util-linux) is not installed';
  }
  return undefined;
}

/** `describe` that runs only where the kernel tests can, saying loudly what it skipped and why. */
export function describeKernel(name: string, body: () => void): void {
  const why = kernelUnavailable();
  if (why) {
    console.warn(`\n!!! SKIPPED kernel tests "${name}": ${why} (CI runs them as root) !!!\n`);
    describe.skip(name, body);
  } else describe(name, body);
}

let seq = 0;

/**
 * Network namespaces made for one test and deleted after it (with everything in them). Names
 * carry the pid so parallel test files never collide.
 */
export function useNamespaces(): { make(label: string): string; inodeUrl(name: string): string } {
  const made: string[] = [];
  afterEach(() => {
    for (const n of made.splice(0)) execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
  });
  return {
    make(label) {
      const name = `nsmrx-${process.pid}-${seq++}-${label}`;
      execFileSync('ip', ['netns', 'add', name]);
      made.push(name);
      execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
      return name;
    },
    inodeUrl(name) {
      const st = statSync(`/run/netns/${name}`);
      return `inode://${st.dev}/${st.ino}`;
    },
  };
}

/** `ip -j …` in a named netns, parsed. */
export function ipJson<T>(netns: string, args: string[]): T {
  return JSON.parse(execFileSync('ip', ['-n', netns, '-j', ...args], { encoding: 'utf8' }) || '[]') as T;
}

/** Whether `dst` answers ping from netns `from` (1 s budget). */
export function pings(from: string, dst: string): boolean {
  try {
    execFileSync('ip', ['netns', 'exec', from, 'ping', '-c', '1', '-W', '1', dst], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

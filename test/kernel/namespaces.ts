import { execFileSync, spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { afterEach, describe } from 'vitest';
import { kernelDatapathMissing } from '../../dataplane/kernel/host.js';

/** `describe` that runs only where the kernel tests can, saying loudly what it skipped and why. */
export function describeKernel(name: string, body: () => void): void {
  const why = kernelDatapathMissing();
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

/**
 * Sends `bytes` over TCP from netns `from` to `addr:port` served in netns `to` (a Node server
 * started there) and answers how many bytes the server received. Catches what ping misses
 * (checksum offload, MTU).
 */
export async function tcpTransfer(from: string, to: string, addr: string, bytes: number, port = 5201): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', to, process.execPath, '-e', `require('net').createServer((s) => { let n = 0; s.on('data', (d) => (n += d.length)); s.on('end', () => s.end(String(n))); }).listen(${port}, '${addr}', () => console.log('ready'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout.once('data', () => resolve());
      server.once('exit', (code) => reject(new Error(`tcp server exited ${code}`)));
    });
    const out = execFileSync('ip', ['netns', 'exec', from, process.execPath, '-e', `const s = require('net').connect(${port}, '${addr}', () => s.end(Buffer.alloc(${bytes}, 7))); let r = ''; s.on('data', (d) => (r += d)); s.on('end', () => console.log(r));`], { encoding: 'utf8', timeout: 20_000 });
    return Number(out.trim());
  } finally {
    server.kill('SIGKILL');
  }
}

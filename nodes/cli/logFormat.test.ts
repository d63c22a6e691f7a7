import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const server = `nsm-rx-logs-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', server, ...args], { encoding: 'utf8' });
const tmuxMissing = spawnSync('tmux', ['-V']).status !== 0;
if (tmuxMissing) console.warn('\n!!! SKIPPED the terminal test of log lines: tmux is not installed (Debian package tmux; CI installs it) !!!\n');
const dirs: string[] = [];
afterEach(() => {
  spawnSync('tmux', ['-L', server, 'kill-server']);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const socketDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'nsm-rx-logs-'));
  dirs.push(d);
  return d;
};

describe('log lines for people and for collectors (needs npm run build)', () => {
  it.skipIf(tmuxMissing)('on a terminal (tmux): readable one-line logs — time, level, component, message, fields', async () => {
    const env = { NSM_INSECURE: 'true', NSM_LISTEN_ON: `unix://${join(socketDir(), 'registry.sock')}` };
    tmux('new-session', '-d', '-s', 'logs', '-x', '250', '-y', '40', '-c', root, 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, 'bin/nsm-rx.js', 'registry-memory');
    const screen = () => tmux('capture-pane', '-p', '-t', 'logs');
    await expect.poll(screen, { timeout: 15_000 }).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}registry-memory: serving {2}/m);
    expect(screen()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN {2}registry-memory: NSM_INSECURE=true: plaintext gRPC/m);
    expect(screen()).not.toContain('{"time"');
  }, 30_000);

  it('not on a terminal, or NSM_LOG_FORMAT=json: JSON lines; NSM_LOG_FORMAT=text forces text', async () => {
    const firstLine = (format: string | undefined) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['bin/nsm-rx.js', 'registry-memory'], {
          cwd: root,
          env: { ...process.env, NSM_INSECURE: 'true', NSM_LISTEN_ON: `unix://${join(socketDir(), 'registry.sock')}`, ...(format ? { NSM_LOG_FORMAT: format } : {}) },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let err = '';
        child.stderr.on('data', (b: Buffer) => {
          err += b.toString();
          const line = err.split('\n').find((l) => l.includes('registry-memory') && l.includes('serving'));
          if (line) {
            child.kill('SIGKILL');
            resolve(line);
          }
        });
        child.once('exit', () => reject(new Error(`exited before serving:\n${err}`)));
      });
    expect(JSON.parse(await firstLine(undefined))).toMatchObject({ level: 'info', msg: 'serving', component: 'registry-memory' });
    expect(JSON.parse(await firstLine('json'))).toMatchObject({ msg: 'serving' });
    expect(await firstLine('text')).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}registry-memory: serving {2}urls=/);
  }, 30_000);
});

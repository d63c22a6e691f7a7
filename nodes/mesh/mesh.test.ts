import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const bin = resolve(import.meta.dirname, '../../bin/nsm-rx.js');

describe('nsm-rx mesh (what npm start runs), as its own OS process', () => {
  it('registers forwarder and NSE, connects nsc → nsmgr → forwarder → nse with addresses, prints monitor events, and on SIGTERM closes, unregisters and removes its sockets', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-mesh-test-'));
    const child = spawn(process.execPath, [bin, 'mesh'], {
      env: { ...process.env, NSM_MESH_DIR: dir, NSM_LOG_LEVEL: 'WARN' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await expect.poll(() => out, { timeout: 10_000 }).toMatch(/monitor INITIAL_STATE_TRANSFER/);
      expect(out).toMatch(
        /connected: nsc-0 UP service=icmp-responder mechanism=KERNEL src=169\.254\.0\.1\/32 dst=169\.254\.0\.0\/32 path=nsc\(nsc-0\) → nsmgr\(\w+\) → forwarder\(\w+\) → nse\(\w+\)/,
      );
      expect(readdirSync(dir).sort()).toEqual(['forwarder.sock', 'nse.sock', 'nsmgr.sock', 'registry.sock']);
      expect(out).toMatch(/registered forwarder forwarder, service icmp-responder \(payload ETHERNET\) and endpoint nse at unix:\/\//);
      const exit = new Promise<number | null>((r) => child.on('exit', r));
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
      expect(out).toMatch(/monitor DELETE/);
      expect(out).toMatch(/closed nsc-0/);
      expect(out).toMatch(/unregistered nse/);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a bad NSM_MAX_TOKEN_LIFETIME, naming the variable and the expected form', async () => {
    const child = spawn(process.execPath, [bin, 'mesh'], { env: { ...process.env, NSM_MAX_TOKEN_LIFETIME: 'ten minutes' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(2);
    expect(err).toMatch(/NSM_MAX_TOKEN_LIFETIME="ten minutes": expected a Go duration/);
  });
});

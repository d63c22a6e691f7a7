import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { delNetns } from '../../dataplane/kernel/host.js';
import { describeKernel } from '../../test/kernel/namespaces.js';

const bin = resolve(import.meta.dirname, '../../bin/nsm-rx.js');
const namespaces = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });

describeKernel('nsm-rx mesh (what npm start runs): every part a process, in network namespaces', () => {
  it('connects nsc → nsmgr → forwarder → icmp-responder with addresses and interfaces, pings, prints monitor events; SIGTERM closes, stops everything and leaves no namespace or socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-mesh-test-'));
    // What a mesh killed with SIGKILL leaves (no such pid): its namespace, with a part still running in it.
    execFileSync('ip', ['netns', 'add', 'nsm-4000000-node']);
    const orphan = spawn('ip', ['netns', 'exec', 'nsm-4000000-node', 'sleep', '60'], { stdio: 'ignore' });
    const orphanGone = new Promise((r) => orphan.once('exit', r));
    const child = spawn(process.execPath, [bin, 'mesh'], { env: { ...process.env, NSM_MESH_DIR: dir, NSM_LOG_LEVEL: 'WARN' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await expect.poll(() => out, { timeout: 20_000 }).toMatch(/\[ping\] 64 bytes from 169\.254\.0\.0/);
      expect(out).toMatch(/connected:\nnsc-0 UP\n┌─+┐   ┌─+┐   ┌─+┐   ┌─+┐\n│ nsc +│──▶│ nsmgr │──▶│ forwarder │──▶│ icmp-responder +│\n│ nsm-1 +│ .*│ icmp-respo-\S+ +│\n│ 169\.254\.0\.1\/32 │ +│ 169\.254\.0\.0\/32 +│/);
      // Watched over mTLS as the client (the mesh's identity entry): it may come after the first ping.
      await expect.poll(() => out, { timeout: 10_000 }).toMatch(/monitor INITIAL_STATE_TRANSFER: \S+ UP src=169\.254\.0\.1\/32/);
      expect(namespaces()).toMatch(new RegExp(`nsm-${child.pid}-nsc`));
      expect(namespaces()).not.toMatch(/nsm-4000000-node/); // removed at start, with what ran in it
      await orphanGone;
      const exit = new Promise<number | null>((r) => child.on('exit', r));
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
      expect(out).toMatch(/closed: nsc-0/);
      expect(out).toMatch(/stopped every process and deleted the namespaces/);
      expect(namespaces()).not.toMatch(new RegExp(`nsm-${child.pid}-`));
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
      orphan.kill('SIGKILL');
      delNetns('nsm-4000000-node');
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    }
  });
});

it('nsm-rx mesh refuses a bad NSM_MAX_TOKEN_LIFETIME, naming the variable and the expected form', async () => {
  const child = spawn(process.execPath, [bin, 'mesh'], { env: { ...process.env, NSM_MAX_TOKEN_LIFETIME: 'ten minutes' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  expect(code).toBe(2);
  expect(err).toMatch(/NSM_MAX_TOKEN_LIFETIME="ten minutes": expected a Go duration/);
});

describeKernel('nsm-rx mesh on a first run (root, Debian)', () => {
  it('a missing command’s package is installed with apt-get, said in one line; one still missing afterwards is named and the mesh exits 1', async () => {
    // A PATH with every command of this machine but ping: the mesh finds ping missing, and still
    // misses it after apt-get (which finds iputils-ping installed already) put it in /usr/bin.
    const path = mkdtempSync(join(tmpdir(), 'nsm-rx-path-'));
    try {
      for (const dir of ['/usr/local/bin', '/usr/bin', '/usr/sbin']) {
        for (const name of readdirSync(dir)) if (name !== 'ping' && !existsSync(join(path, name))) symlinkSync(join(dir, name), join(path, name));
      }
      const child = spawn(process.execPath, [bin, 'mesh'], { env: { ...process.env, PATH: path }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((r) => child.on('exit', r));
      expect(out).toContain('installing iputils-ping with apt-get: the local mesh runs ping, which this machine lacks');
      expect(out).toMatch(/cannot start: missing commands: ping \(Debian package iputils-ping\)/);
      expect(code).toBe(1);
    } finally {
      rmSync(path, { recursive: true, force: true });
    }
  }, 180_000);
});

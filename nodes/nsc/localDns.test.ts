import { createSocket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../operators/tools/log.js';
import type { RunContext } from '../cli/component.js';
import { commonSpec, ConfigError, loadConfig } from '../cli/config.js';
import { createLifecycle, type ProcessLike } from '../cli/lifecycle.js';
import { startLocalDns } from './localDns.js';
import { nscSpec } from './spec.js';

const original = 'nameserver 10.96.0.10\nsearch cluster.local\n';
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const resolvConf = () => {
  const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-localdns-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'resolv.conf'), original);
  return join(dir, 'resolv.conf');
};
const runContext = (): RunContext => {
  const proc = Object.assign(new EventEmitter(), { exit: () => undefined }) as unknown as ProcessLike;
  const lifecycle = createLifecycle({ proc, signals: [] });
  return { log: createLogger('nsc', 'FATAL'), lifecycle, signal: lifecycle.signal, common: loadConfig(commonSpec, {}), env: {} };
};
/** A UDP port on 127.0.0.1 held by someone else while `use` runs. */
async function withPortTaken<T>(use: (port: number) => Promise<T>): Promise<T> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  try {
    return await use(socket.address().port);
  } finally {
    socket.close();
  }
}

describe('the nsc’s local DNS server', () => {
  it('NSM_LOCAL_DNS_SERVER_ADDRESS: upstream’s 127.0.0.1:53 by default, Go’s :53 for every address; anything else is refused naming the form', () => {
    expect(loadConfig(nscSpec, {}).localDnsServerAddress).toEqual({ host: '127.0.0.1', port: 53 });
    expect(loadConfig(nscSpec, { NSM_LOCAL_DNS_SERVER_ADDRESS: ':5353' }).localDnsServerAddress).toEqual({ host: '0.0.0.0', port: 5353 });
    for (const bad of ['127.0.0.1', 'localhost:53', '127.0.0.1:70000']) {
      expect(() => loadConfig(nscSpec, { NSM_LOCAL_DNS_SERVER_ADDRESS: bad })).toThrow(ConfigError);
      expect(() => loadConfig(nscSpec, { NSM_LOCAL_DNS_SERVER_ADDRESS: bad })).toThrow(/NSM_LOCAL_DNS_SERVER_ADDRESS=.*expected IPv4:port/);
    }
  });

  it('points the resolver at the proxy, offers its old servers as the fallback, and puts it back on shutdown with the proxy’s port free again', async () => {
    const path = resolvConf();
    const port = await withPortTaken(async (p) => p); // a port free a moment ago
    const ctx = runContext();
    const dns = await startLocalDns({ localDnsServerAddress: { host: '127.0.0.1', port }, localDnsResolvConf: path }, ctx);
    expect(readFileSync(path, 'utf8')).toMatch(/^nameserver 127\.0\.0\.1$/m);
    expect(await firstValueFrom(dns!.configs)).toEqual([]); // no connection yet
    await ctx.lifecycle.shutdown('test');
    expect(readFileSync(path, 'utf8')).toBe(original);
    const again = createSocket('udp4');
    await new Promise<void>((r) => again.bind(port, '127.0.0.1', r));
    again.close(); // bound again: the proxy let go
  });

  it('no resolver of the client’s own (the host’s netns, not a pod): no proxy either — the host’s port stays free — and no DNS element in the chain', async () => {
    const port = await withPortTaken(async (p) => p);
    expect(await startLocalDns({ localDnsServerAddress: { host: '127.0.0.1', port }, localDnsResolvConf: '' }, runContext())).toBeUndefined();
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(port, '127.0.0.1', r));
    socket.close();
  });

  it('a proxy that cannot listen: the resolver is put back at once and the nsc goes on (as upstream)', async () => {
    const path = resolvConf();
    const ctx = runContext();
    await withPortTaken((port) => startLocalDns({ localDnsServerAddress: { host: '127.0.0.1', port }, localDnsResolvConf: path }, ctx));
    expect(readFileSync(path, 'utf8')).toBe(original);
  });
});

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { forwarder } from '../../operators/chains/forwarder.js';
import { registryClient } from '../../operators/chains/registryClient.js';
import { Context } from '../../operators/core/context.js';
import { unixUrl } from '../../operators/tools/nsmUrl.js';
import { unsignedTokenGenerator } from '../../operators/tools/token.js';
import { NoopDatapath } from '../../dataplane/noop.js';
import { ChannelPool } from '../../streams/grpc/channelPool.js';
import { serveNetworkService } from '../../streams/grpc/networkService.js';
import { GrpcServer } from '../../streams/grpc/server.js';

const bin = resolve(import.meta.dirname, '../../bin/nsm-rx.js');
const children: ChildProcess[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
let dir: string;

afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const f of cleanups.splice(0).reverse()) await f();
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
});

function start(component: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [bin, component], { env: { ...process.env, NSM_LOG_LEVEL: 'WARN', ...env }, stdio: 'ignore' });
  children.push(child);
  return child;
}

const ctx = () => Context.background.withDeadline(Date.now() + 15_000);

describe('control plane across OS processes: registry-memory, nsmgr, nse-icmp-responder, nsc', () => {
  it('the nsc gets a 4-segment connection with the NSE’s /31 addresses (NSM_CIDR_PREFIX=172.16.1.100/31: NSE .100, client .101) and closes it on SIGTERM', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nsm-rx-cp-'));
    const registrySock = join(dir, 'registry.sock');
    const nsmgrSock = join(dir, 'nsm.io.sock');
    start('registry-memory', { NSM_LISTEN_ON: `unix://${registrySock}` });
    start('nsmgr', { NSM_NAME: 'nsmgr', NSM_LISTEN_ON: `unix://${nsmgrSock}`, NSM_REGISTRY_URL: `unix://${registrySock}`, NSM_EXCLUDED_PREFIXES_FILE: join(dir, 'x.yaml') });
    await expect.poll(() => existsSync(registrySock) && existsSync(nsmgrSock), { timeout: 10_000 }).toBe(true);
    start('nse-icmp-responder', { NSM_NAME: 'icmp-server', NSM_CONNECT_TO: `unix://${nsmgrSock}`, NSM_CIDR_PREFIX: '172.16.1.100/31' });

    // The forwarder (no-op datapath) and the client run in this process, on their own sockets.
    const pool = new ChannelPool();
    cleanups.push(() => pool.closeAll());
    const nsmgr = unixUrl(nsmgrSock);
    const fwdUrl = unixUrl(join(dir, 'forwarder.sock'));
    const fwdRegistry = registryClient({ pool, url: nsmgr });
    cleanups.push(() => fwdRegistry.dispose());
    const fwd = forwarder({ name: 'forwarder', registry: fwdRegistry, datapath: new NoopDatapath(), pool, token: unsignedTokenGenerator('forwarder', 600_000, Date.now) });
    const server = new GrpcServer();
    serveNetworkService(server, fwd.handler, fwd.monitor);
    await server.listen([fwdUrl]);
    cleanups.push(() => server.stop(200));
    await firstValueFrom(
      fwdRegistry.nse.register(
        NetworkServiceEndpoint.fromPartial({ name: 'forwarder', networkServiceNames: ['forwarder'], networkServiceLabels: { forwarder: { labels: { p2p: 'true' } } }, url: fwdUrl.href }),
        ctx(),
      ),
    );

    // The nsc, as its own process: it retries until the NSE has registered, then prints the connection.
    const nsc = spawn(process.execPath, [bin, 'nsc'], {
      env: { ...process.env, NSM_LOG_LEVEL: process.env.DBG ? 'DEBUG' : 'WARN', NSM_NAME: 'nsc', NSM_CONNECT_TO: `unix://${nsmgrSock}`, NSM_NETWORK_SERVICES: 'kernel://icmp-responder/nsm-1?app=test', NSM_LIVENESS_CHECK_ENABLED: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(nsc);
    nsc.stderr?.on('data', (d: Buffer) => process.env.DBG && console.log('NSC', d.toString()));
    let out = '';
    nsc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await expect.poll(() => out, { timeout: 15_000 }).toMatch(/"event":"connected"/);
    const connected = JSON.parse(out.split('\n')[0] as string) as { connection: { id: string; labels: Record<string, string>; mechanism: { type: string; parameters: Record<string, string> }; context: { ipContext: { srcIpAddrs: string[]; dstIpAddrs: string[] } }; path: { pathSegments: { name: string }[] }; payload: string } };
    const conn = connected.connection;
    expect(conn.id).toBe('nsc-0');
    expect(conn.path.pathSegments.map((p) => p.name)).toEqual(['nsc', 'nsmgr', 'forwarder', 'icmp-server']);
    expect(conn.context.ipContext.dstIpAddrs).toEqual(['172.16.1.100/32']);
    expect(conn.context.ipContext.srcIpAddrs).toEqual(['172.16.1.101/32']);
    expect(conn.labels).toEqual({ app: 'test' });
    expect(conn.mechanism.type).toBe('KERNEL');
    expect(conn.payload).toBe('ETHERNET');
    const exit = new Promise<number | null>((r) => nsc.on('exit', r));
    nsc.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(out).toMatch(/"event":"closed"/);
  });
});

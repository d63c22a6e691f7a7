import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, of } from 'rxjs';
import { afterAll, afterEach, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { ChannelPool, type PooledChannel } from '../../streams/grpc/channelPool.js';
import { GrpcServer } from '../../streams/grpc/server.js';
import { Context } from '../core/context.js';
import { chain } from '../core/networkservice.js';
import { parseNsmUrl, type NsmUrl } from '../tools/nsmUrl.js';
import { clientUrlKey, clientUrlOf } from './clientUrl.js';
import { clientConnOf, dial as dialElement, waitReady } from './dial.js';
import { metadata } from './metadata.js';

// grpc-js would wait a minute before its next attempt on a channel that failed to connect.
const pool = new ChannelPool({ reconnectBackoff: { initialMs: 60_000, maxMs: 60_000 } });
const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-dial-'));
const servers: GrpcServer[] = [];
/** A server at `url` (stopped after the test). */
async function serve(url: NsmUrl): Promise<GrpcServer> {
  const server = new GrpcServer();
  servers.push(server);
  await server.listen([url]);
  return server;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop(100)));
  pool.closeAll();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Dials `url` through the pool (3 s at most): 'ready' or the dial error's message. */
async function dial(url: NsmUrl): Promise<string> {
  const channel = pool.acquire(url);
  try {
    return await lastValueFrom(waitReady(channel, 3000), { defaultValue: 'ready' });
  } catch (e) {
    return String(e);
  } finally {
    channel.release();
  }
}

it('a dial where nothing listens fails at once, and so does the next (its channel backing off is not reused); a peer back at the URL is reached without waiting out the backoff', async () => {
  const url = parseNsmUrl(`unix://${join(dir, 'forwarder.sock')}`);
  expect(await dial(url)).toMatch(/cannot dial unix:.*: connect (ENOENT|ECONNREFUSED)/);
  expect(pool.failing(url)).toBe(true);
  expect(await dial(url)).toMatch(/cannot dial unix:.*: connect (ENOENT|ECONNREFUSED)/);
  await serve(url);
  expect(await dial(url)).toBe('ready');
  expect(pool.failing(url)).toBe(false);
}, 10_000);

it('a connection whose kept channel is backing off (its next hop died) dials anew on its next Request: it fails at once, or reaches the hop back at its URL at once', async () => {
  const url = parseNsmUrl(`unix://${join(dir, 'nse.sock')}`);
  const server = await serve(url);
  const meta = metadata();
  const channels: (PooledChannel | undefined)[] = [];
  const handler = chain([meta, dialElement({ pool, timeout: 3000 })], {
    request: (request, ctx) => {
      channels.push(clientConnOf(ctx));
      return of(request.connection as Connection);
    },
    close: () => of(undefined),
  });
  const request = NetworkServiceRequest.fromPartial({ connection: { id: 'c1', networkService: 'ns' } });
  const ctx = Context.background.with(clientUrlKey, url);
  const requested = () => lastValueFrom(handler.request(request, ctx)).then(() => 'ready', (e: unknown) => String(e));
  expect(await requested()).toBe('ready');
  await server.stop(100); // the next hop dies
  const first = channels[0] as PooledChannel;
  await expect.poll(() => first.client.current).not.toBe('ready');
  expect(await requested()).toMatch(/cannot dial unix:.*: connect (ENOENT|ECONNREFUSED)/);
  expect(pool.failing(url)).toBe(true); // the kept channel backs off now
  expect(await requested()).toMatch(/cannot dial unix:.*: connect (ENOENT|ECONNREFUSED)/);
  await serve(url);
  try {
    expect(await requested()).toBe('ready');
    expect(channels[1]).not.toBe(channels[0]);
  } finally {
    await lastValueFrom(handler.close(request.connection as Connection, ctx), { defaultValue: undefined });
    meta.dispose();
  }
  expect(pool.borrowed).toBe(0);
}, 15_000);

it('a Request moving to another next hop does not wait to Close at the old one when its channel is backing off (the hop is dead): it goes on at once', async () => {
  const [a, b] = [parseNsmUrl(`unix://${join(dir, 'a.sock')}`), parseNsmUrl(`unix://${join(dir, 'b.sock')}`)];
  const old = await serve(a);
  await serve(b);
  const meta = metadata();
  const closedAt: string[] = [];
  // Were the old hop waited for, its next attempt would come after a minute's backoff.
  const handler = chain([meta, dialElement({ pool, timeout: 60_000 })], {
    request: (request) => of(request.connection as Connection),
    close: (_conn, ctx) => {
      closedAt.push(clientUrlOf(ctx)?.href ?? '');
      return of(undefined);
    },
  });
  const request = NetworkServiceRequest.fromPartial({ connection: { id: 'c1', networkService: 'ns' } });
  const to = (url: NsmUrl) => lastValueFrom(handler.request(request, Context.background.with(clientUrlKey, url))).then(() => 'ready', (e: unknown) => String(e));
  expect(await to(a)).toBe('ready');
  await old.stop(100);
  const kept = pool.acquire(a);
  await expect.poll(() => kept.client.current).not.toBe('ready');
  kept.release();
  expect(await to(a)).toMatch(/cannot dial unix:.*: connect (ENOENT|ECONNREFUSED)/);
  expect(pool.failing(a)).toBe(true); // the connection's channel to a backs off
  expect(await to(b)).toBe('ready');
  expect(closedAt).toEqual([]);
  await lastValueFrom(handler.close(request.connection as Connection, Context.background), { defaultValue: undefined });
  meta.dispose();
  expect(pool.borrowed).toBe(0);
}, 15_000);

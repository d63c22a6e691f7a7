import { firstValueFrom, of } from 'rxjs';
import { createServer as createTlsServer, TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceService } from '../../proto/gen/networkservice.js';
import { Context } from '../../operators/core/context.js';
import { decodeJwt, verifyEs256 } from '../../operators/tools/jwt.js';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import { tokenFromMetadata } from '../../operators/tools/token.js';
import { unaryCall } from '../grpc/call.js';
import { ChannelPool } from '../grpc/channelPool.js';
import { serveNetworkService } from '../grpc/networkService.js';
import { incomingCallKey, type IncomingCall } from '../grpc/serve.js';
import { GrpcServer } from '../grpc/server.js';
import { ConnectionMonitor } from '../monitorConnections.js';
import { createCa, issueSvid } from './ca.js';
import { caSource, contextOf } from './rotation.js';
import { bundlesPem, chainPem, keyPem, StreamedX509Source } from './svid.js';
import { secureContextOf } from './tls.js';
import { spiffeTokenGenerator } from './token.js';

const now = new Date();
const ca = createCa('nsm.local', now, 3_600_000);
const stops: (() => unknown)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

function identity(id: string, authority = ca, ttlMs?: number) {
  const { source, stop } = caSource(authority, id, ttlMs === undefined ? {} : { ttlMs });
  stops.push(stop);
  return source;
}

/** A server that answers every Request with the caller's SPIFFE ID as the connection id and keeps what it saw. */
async function server(id: string, url = 'tcp://127.0.0.1:0') {
  const seen: IncomingCall[] = [];
  const s = new GrpcServer({ source: identity(id) });
  serveNetworkService(
    s,
    {
      request: (r, ctx) => {
        const call = ctx.get(incomingCallKey);
        if (call) seen.push(call);
        return of(Connection.fromPartial({ ...r.connection, id: call?.identity?.id ?? 'none' }));
      },
      close: () => of(undefined),
    },
    new ConnectionMonitor(),
  );
  const [bound] = await s.listen([url]);
  stops.push(() => s.stop(100));
  return { url: bound!, seen };
}

function client(id: string, authority = ca) {
  const source = identity(id, authority);
  const pool = new ChannelPool({ source, token: spiffeTokenGenerator(source, 600_000, Date.now) });
  stops.push(() => pool.closeAll());
  return pool;
}

const request = (pool: ChannelPool, url: ReturnType<typeof parseNsmUrl>) => {
  const channel = pool.acquire(url);
  return firstValueFrom(unaryCall(channel, NetworkServiceService.request, { connection: Connection.fromPartial({ id: 'x' }), mechanismPreferences: [] }, Context.background)).finally(() => channel.release());
};

describe('mutual TLS with SPIFFE identities', () => {
  it('both sides learn the other SPIFFE ID; the token is ES256 from the caller to the server', async () => {
    const { url, seen } = await server('spiffe://nsm.local/nsmgr');
    const pool = client('spiffe://nsm.local/nsc');
    const conn = await request(pool, url);
    expect(conn.id).toBe('spiffe://nsm.local/nsc');
    const call = seen[0]!;
    const token = tokenFromMetadata(call.metadata)!;
    const jwt = decodeJwt(token.token);
    expect(jwt.claims.sub).toBe('spiffe://nsm.local/nsc');
    expect(jwt.claims.aud).toEqual(['spiffe://nsm.local/nsmgr']);
    expect(verifyEs256(jwt, call.identity!.publicKey)).toBe(true);
    expect(token.expires).toBeLessThanOrEqual(Date.now() + 600_000);
  });

  it('the caller is read from its certificate once per connection, not on every call', async () => {
    const { url, seen } = await server('spiffe://nsm.local/nsmgr');
    const pool = client('spiffe://nsm.local/nsc');
    await request(pool, url); // the connection is up
    const reads = vi.spyOn(TLSSocket.prototype, 'getPeerCertificate');
    for (let i = 0; i < 5; i++) await request(pool, url);
    expect(reads).not.toHaveBeenCalled();
    reads.mockRestore();
    expect(seen.map((c) => c.identity?.id)).toEqual(Array(6).fill('spiffe://nsm.local/nsc'));
  });

  it('works over unix sockets too', async () => {
    const { url } = await server('spiffe://nsm.local/nsmgr', `unix:///tmp/nsm-tls-${process.pid}.sock`);
    expect((await request(client('spiffe://nsm.local/nsc'), url)).id).toBe('spiffe://nsm.local/nsc');
  });

  it('a client of another trust domain is refused at TLS; so is a plaintext one', async () => {
    const { url, seen } = await server('spiffe://nsm.local/nsmgr');
    const other = createCa('other.domain', now, 3_600_000);
    await expect(request(client('spiffe://other.domain/nsc', other), url)).rejects.toMatchObject({ code: 14 });
    await expect(request(new ChannelPool(), url)).rejects.toMatchObject({ code: 14 });
    expect(seen).toHaveLength(0);
  });

  it('a rotated SVID is used for new connections without a restart, and the key stays', async () => {
    const source = identity('spiffe://nsm.local/rotating', ca, 1500);
    const first = source.current.svid;
    await new Promise((r) => setTimeout(r, 900));
    const second = source.current.svid;
    expect(second.chain[0]!.serialNumber).not.toBe(first.chain[0]!.serialNumber);
    expect(second.key.equals(first.key)).toBe(true);
  });

  it('each connection presents the SVID current when it is dialled (a rotation reaches the channel\'s next reconnect), from one TLS context per SVID', async () => {
    // A bare TLS server that notes the client certificate of each handshake.
    const server = identity('spiffe://nsm.local/server').current;
    const presented: string[] = [];
    const tls = createTlsServer({ key: keyPem(server.svid), cert: chainPem(server.svid), ca: bundlesPem(server), requestCert: true, ALPNProtocols: ['h2'] }, (socket) => {
      presented.push(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    stops.push(() => new Promise((r) => tls.close(r)));
    const port = (tls.address() as { port: number }).port;
    const source = identity('spiffe://nsm.local/rotating', ca, 1500);
    const pool = new ChannelPool({ source });
    stops.push(() => pool.closeAll());
    /** The pool's channel to the server connects (again: the server drops each connection); the serial it presented. */
    const dial = async () => {
      const channel = pool.acquire(parseNsmUrl(`tcp://127.0.0.1:${port}`));
      const before = presented.length;
      channel.client.connect();
      await vi.waitFor(() => expect(presented.length).toBeGreaterThan(before), { timeout: 3000 });
      channel.release();
      return presented[before];
    };
    const first = source.current;
    expect(secureContextOf(first)).toBe(secureContextOf(first));
    expect(await dial()).toBe(first.svid.chain[0]!.serialNumber);
    await vi.waitFor(() => expect(source.current).not.toBe(first), { timeout: 3000 });
    expect(secureContextOf(source.current)).not.toBe(secureContextOf(first));
    expect(await dial()).toBe(source.current.svid.chain[0]!.serialNumber);
  });

  it('a channel held across a re-key (an identity provider restarted: a new key) makes its later calls with the new certificate, so its tokens verify; a call under way keeps the old channel', async () => {
    const { url, seen } = await server('spiffe://nsm.local/nsmgr');
    const source = new StreamedX509Source();
    source.push(contextOf(issueSvid(ca, 'spiffe://nsm.local/nsc', now, 3_600_000), ca));
    const pool = new ChannelPool({ source, token: spiffeTokenGenerator(source, 600_000, Date.now) });
    stops.push(() => pool.closeAll());
    // A connection's channel, kept for its refreshes and heals.
    const channel = pool.acquire(url);
    const call = () => firstValueFrom(unaryCall(channel, NetworkServiceService.request, { connection: Connection.fromPartial({ id: 'x' }), mechanismPreferences: [] }, Context.background));
    await call();
    const before = channel.client;
    source.push(contextOf(issueSvid(ca, 'spiffe://nsm.local/nsc', now, 3_600_000), ca));
    await call();
    expect(channel.client).not.toBe(before);
    const [first, second] = seen.map((c) => ({ key: c.identity!.publicKey, token: decodeJwt(tokenFromMetadata(c.metadata)!.token) }));
    expect(verifyEs256(first!.token, first!.key)).toBe(true);
    expect(verifyEs256(second!.token, second!.key)).toBe(true);
    expect(second!.key.equals(first!.key)).toBe(false);
    channel.release();
    expect(pool.borrowed).toBe(0);
  });
});

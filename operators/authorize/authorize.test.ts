import { firstValueFrom, of } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { Connection, MonitorConnectionService } from '../../proto/gen/connection.js';
import { NetworkServiceRequest, NetworkServiceService } from '../../proto/gen/networkservice.js';
import { client } from '../chains/client.js';
import { endpoint } from '../chains/endpoint.js';
import { Context } from '../core/context.js';
import { msToTimestamp } from '../core/path.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { unixUrl } from '../tools/nsmUrl.js';
import { serverStreamCall, unaryCall } from '../../streams/grpc/call.js';
import { ChannelPool } from '../../streams/grpc/channelPool.js';
import { authorizeMonitor } from './authorizeMonitor.js';
import { serveNetworkService } from '../../streams/grpc/networkService.js';
import { GrpcServer } from '../../streams/grpc/server.js';
import { createCa } from '../../streams/spiffe/ca.js';
import { caSource } from '../../streams/spiffe/rotation.js';
import { spiffeTokenGenerator } from '../../streams/spiffe/token.js';
import { inodeUrlOfFile } from '../../dataplane/kernel/netns.js';
import { resolvePolicies } from './policies.js';

const ca = createCa('nsm.local', new Date(), 3_600_000);
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
const serverPolicies = resolvePolicies(['etc/nsm/opa/common/.*.rego', 'etc/nsm/opa/server/.*.rego']);
const clientPolicies = resolvePolicies(['etc/nsm/opa/common/.*.rego', 'etc/nsm/opa/client/.*.rego']);

function identity(name: string, lifetimeMs = 600_000) {
  const { source, stop } = caSource(ca, `spiffe://nsm.local/${name}`);
  const token = spiffeTokenGenerator(source, lifetimeMs, Date.now);
  const pool = new ChannelPool({ source, token });
  cleanup.push(stop, () => pool.closeAll());
  return { source, token, pool };
}

/** A secure NSE with the default server policies. */
async function nse(name = 'nse', additional: NetworkServiceElement[] = []) {
  const me = identity(name);
  const hop = endpoint({ name, token: me.token, policies: serverPolicies, additional });
  const server = new GrpcServer({ source: me.source });
  serveNetworkService(server, hop.handler, hop.monitor, authorizeMonitor(hop.owners));
  const [url] = await server.listen([unixUrl(`/tmp/nsm-authz-${process.pid}-${name}.sock`)]);
  cleanup.push(() => server.stop(100));
  return { hop, url: url! };
}

const request = (id: string) => NetworkServiceRequest.fromPartial({ connection: { id, networkService: 'ns' } });
const ctx = () => Context.background.withDeadline(Date.now() + 5000);

describe('authorize over mutual TLS with signed tokens', () => {
  it('a chained, signed Request passes both ways and makes the caller the owner its monitor may watch', async () => {
    const { hop, url } = await nse();
    const nsc = identity('nsc');
    const chain = client({ name: 'nsc', pool: nsc.pool, url, token: nsc.token, policies: clientPolicies, refresh: false, inodeUrlOf: inodeUrlOfFile });
    const conn = await firstValueFrom(chain.handler.request(request('c-1'), ctx()));
    expect(conn.path?.pathSegments.map((s) => s.name)).toEqual(['nsc', 'nse']);
    expect(hop.owners.owns('spiffe://nsm.local/nsc', ['c-1'])).toBe(true);

    const channel = nsc.pool.acquire(url);
    const watch = (id: string) =>
      firstValueFrom(serverStreamCall(channel, MonitorConnectionService.monitorConnections, { pathSegments: [{ name: '', id, token: '', expires: undefined, metrics: {} }], networkServices: [] }, Context.background));
    expect(Object.keys((await watch('c-1')).connections)).toHaveLength(1);
    // Another workload owns nothing here: no events at all.
    const other = identity('other').pool.acquire(url);
    await expect(
      firstValueFrom(serverStreamCall(other, MonitorConnectionService.monitorConnections, { pathSegments: [{ name: '', id: 'c-1', token: '', expires: undefined, metrics: {} }], networkServices: [] }, Context.background)),
    ).rejects.toMatchObject({ code: 7, message: expect.stringContaining('owns none') });
    other.release();
    channel.release();

    await firstValueFrom(chain.handler.close(conn, ctx()));
    expect(hop.owners.size).toBe(0);
  });

  it('as upstream, only calls that came over gRPC are checked: the same unsigned path is refused over mTLS and passes in-process', async () => {
    const { hop, url } = await nse();
    const unsigned = () => NetworkServiceRequest.fromPartial({ connection: { id: 'c-5', networkService: 'ns', path: { index: 0, pathSegments: [{ name: 'nsc', id: 'c-5', token: 'not a token', expires: msToTimestamp(Date.now() + 60_000) }] } } });
    // mTLS, but no per-call token: the path keeps the caller's unsigned segment.
    const pool = new ChannelPool({ source: identity('nsc').source });
    cleanup.push(() => pool.closeAll());
    await expect(firstValueFrom(unaryCall(pool.acquire(url), NetworkServiceService.request, unsigned(), ctx()))).rejects.toMatchObject({ code: 7, message: expect.stringContaining('tokens_valid') });
    const conn = await firstValueFrom(hop.handler.request(unsigned(), ctx()));
    expect(conn.path?.pathSegments.map((s) => s.name)).toEqual(['nsc', 'nse']);
    await firstValueFrom(hop.handler.close(conn, ctx()));
  });

  it('an expired caller token is refused with PERMISSION_DENIED (tokens_expired)', async () => {
    const { url } = await nse();
    const nsc = identity('nsc', -1000);
    const chain = client({ name: 'nsc', pool: nsc.pool, url, token: nsc.token, refresh: false, inodeUrlOf: inodeUrlOfFile });
    await expect(firstValueFrom(chain.handler.request(request('c-2'), ctx()))).rejects.toMatchObject({ code: 7, message: expect.stringContaining('tokens_expired') });
  });

  it('a token signed by another key than the caller’s certificate is refused (prev_token_signed)', async () => {
    const { url } = await nse();
    const nsc = identity('nsc');
    const impostor = identity('nsc');
    const chain = client({ name: 'nsc', pool: nsc.pool, url, token: impostor.token, refresh: false, inodeUrlOf: inodeUrlOfFile });
    await expect(firstValueFrom(chain.handler.request(request('c-3'), ctx()))).rejects.toMatchObject({ code: 7, message: expect.stringContaining('prev_token_signed') });
  });

  it('the client refuses a connection whose server segment is not signed by the server it dialed, and Closes it there', async () => {
    const stranger = identity('stranger');
    const forge: NetworkServiceElement = {
      request: (r, c, next) => next.request(r, c),
      close: (conn, c, next) => next.close(conn, c),
    };
    // The NSE's own token replaced by one signed with another key.
    const { hop, url } = await nse('nse', [
      {
        request: (r) => {
          const conn = r.connection as Connection;
          const own = conn.path!.pathSegments[conn.path!.index]!;
          own.token = stranger.token().token;
          return of(conn);
        },
      },
      forge,
    ]);
    const nsc = identity('nsc');
    const chain = client({ name: 'nsc', pool: nsc.pool, url, token: nsc.token, policies: clientPolicies, refresh: false, inodeUrlOf: inodeUrlOfFile });
    await expect(firstValueFrom(chain.handler.request(request('c-4'), ctx()))).rejects.toMatchObject({ code: 7, message: expect.stringMatching(/authorize client: (tokens_chained|next_token_signed)/) });
    expect(hop.owners.size).toBe(0);
  });
});

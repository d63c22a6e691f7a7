import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ConnectionEventType, MonitorConnectionService } from '../../proto/gen/connection.js';
import { NetworkService, NetworkServiceEndpoint, NetworkServiceEndpointQuery } from '../../proto/gen/registry.js';
import { client } from '../../operators/chains/client.js';
import { registryClient } from '../../operators/chains/registryClient.js';
import { registryChain } from '../../operators/core/registry.js';
import { nsRegistryClient } from '../../operators/registry/grpcClient.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../../operators/core/context.js';
import { monitorServiceConnection, resolvePolicies } from '../../operators/authorize/policies.js';
import { signEs256, decodeJwt } from '../../operators/tools/jwt.js';
import type { TokenGenerator } from '../../operators/tools/token.js';
import { serverStreamCall } from '../../streams/grpc/call.js';
import { ChannelPool } from '../../streams/grpc/channelPool.js';
import { createCa } from '../../streams/spiffe/ca.js';
import { caSource } from '../../streams/spiffe/rotation.js';
import { inodeUrlOfFile } from '../../dataplane/kernel/netns.js';
import { ErrorInjector } from '../sandbox/injectError.js';
import { useSandbox } from '../sandbox/harness.js';
import { Mesh } from '../sandbox/mesh.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };
const request = (id: string) => NetworkServiceRequest.fromPartial({ connection: { id, networkService: 'ns' }, mechanismPreferences: [kernel] });
const budget = (ms = 5000) => Context.background.withDeadline(Date.now() + ms);
const common = resolvePolicies(['etc/nsm/opa/common/.*.rego', 'etc/nsm/opa/server/.*.rego']);
const tokensExpired = resolvePolicies(['etc/nsm/opa/common/tokens_expired.rego']);
const clientAllowed = resolvePolicies(['etc/nsm/opa/registry/client_allowed.rego']);

describe('identity and authorization (secure sandbox: mTLS, ES256 tokens, policies)', () => {
  const h = useSandbox({ secure: true });

  it('Test_FailedRegistryAuthorization: ns-1 registered by one SPIFFE ID cannot be registered, nor unregistered, by another (client_allowed)', async () => {
    const sandbox = await h.recreate({ secure: true, policies: { registryServer: clientAllowed } });
    const mesh = await Mesh.build(sandbox);
    const nsmgr = mesh.nodes[0]!.nsmgr.url;
    const first = sandbox.registryClient(nsmgr, { as: 'ns-1-owner' });
    // Plain calls (no client-side begin, which would not send an Unregister for a name it never registered).
    const second = registryChain([nsRegistryClient({ pool: sandbox.poolFor('someone-else'), url: nsmgr })]);
    const ns1 = NetworkService.fromPartial({ name: 'ns-1', payload: 'ETHERNET' });
    await firstValueFrom(first.ns.register(ns1, budget()));
    await expect(firstValueFrom(second.register(ns1, budget()))).rejects.toMatchObject({ code: 7, message: expect.stringContaining('client_allowed') });
    await expect(lastValueFrom(second.unregister(ns1, budget()), { defaultValue: undefined })).rejects.toMatchObject({ code: 7 });
    await firstValueFrom(first.ns.register(ns1, budget())); // the owner may refresh
    await lastValueFrom(first.ns.unregister(ns1, budget()), { defaultValue: undefined });
  });

  it('Test_Timeout with real tokens (tokens_expired): a client with a 2 s token "dies" after its first Request; the hops time the connection out and the NSE gets 1 Close', async () => {
    const sandbox = await h.recreate({ secure: true, policies: { server: tokensExpired } });
    const mesh = await Mesh.build(sandbox);
    const nse = await mesh.endpoint(0, 'final-endpoint');
    const dies = new ErrorInjector().failRequests(1, -1);
    const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { retry: false, heal: false, additional: [dies.element], tokenLifetime: 2000 });
    const conn = await nsc.request(request('nsc-1'), 1500);
    expect(decodeJwt(conn.path!.pathSegments[0]!.token).claims.sub).toBe('spiffe://nsm.local/nsc');
    expect(nse.counter.closes).toBe(0);
    await expect.poll(() => nse.counter.closes, { timeout: 5000 }).toBe(1);
    h.expectLeftovers(); // the "dead" client still holds its side, as a crashed process would
  });

  it('Test_Expire with real tokens (tokens_expired): an NSE registered with a 2 s token that dies is unregistered when the token runs out', async () => {
    const sandbox = await h.recreate({ secure: true, policies: { registryServer: tokensExpired } });
    const mesh = await Mesh.build(sandbox);
    const nsmgr = mesh.nodes[0]!.nsmgr.url;
    const owner = sandbox.registryClient(nsmgr, { as: 'ns-owner' });
    await firstValueFrom(owner.ns.register(NetworkService.fromPartial({ name: 'ns' }), budget()));
    const pool = new ChannelPool({ source: sandbox.identity('final-endpoint'), token: sandbox.token('final-endpoint', 2000) });
    const dying = registryClient({ pool, url: nsmgr });
    await firstValueFrom(dying.nse.register(NetworkServiceEndpoint.fromPartial({ name: 'final-endpoint', url: 'tcp://127.0.0.1:1', networkServiceNames: ['ns'] }), budget(1500)));
    dying.dispose(); // dies: no refresh
    pool.closeAll();
    const find = () =>
      firstValueFrom(mesh.registryOf(0).nse.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { name: 'final-endpoint' } }), budget()).pipe(toArray()));
    expect(await find()).toHaveLength(1);
    await expect.poll(async () => (await find()).length, { timeout: 5000, interval: 200 }).toBe(0);
    await lastValueFrom(owner.ns.unregister(NetworkService.fromPartial({ name: 'ns' }), budget()), { defaultValue: undefined });
  });

  it('a peer whose certificate comes from another trust domain is refused at TLS: the Request never reaches the nsmgr', async () => {
    const mesh = await Mesh.build(h.sandbox);
    const nse = await mesh.endpoint(0, 'final-endpoint');
    const stranger = caSource(createCa('other.domain', new Date(), 3_600_000), 'spiffe://other.domain/nsc');
    const pool = new ChannelPool({ source: stranger.source });
    try {
      const chain = client({ name: 'nsc', pool, url: mesh.nodes[0]!.nsmgr.url, token: h.sandbox.token('nsc'), refresh: false, dialTimeout: 500, inodeUrlOf: inodeUrlOfFile });
      await expect(firstValueFrom(chain.handler.request(request('nsc-x'), budget()))).rejects.toMatchObject({ code: 14 });
      expect(nse.counter.requests).toBe(0);
      expect(mesh.nodes[0]!.nsmgr.endpoint?.state.begin.connections.size ?? 0).toBe(0);
    } finally {
      pool.closeAll();
      stranger.stop();
    }
  });

  it('through nsmgr → forwarder → NSE with the default policies: a tampered token, a wrong audience and an expired token are PERMISSION_DENIED; a good one passes', async () => {
    const sandbox = await h.recreate({ secure: true, policies: { server: common } });
    const mesh = await Mesh.build(sandbox);
    await mesh.endpoint(0, 'final-endpoint');
    const url = mesh.nodes[0]!.nsmgr.url;
    const good = sandbox.token('nsc');
    const key = sandbox.identity('nsc').current.svid.key;
    const variants: [string, TokenGenerator, RegExp][] = [
      [
        'tampered',
        (peer) => {
          const t = good(peer);
          const [h0, , s] = t.token.split('.');
          const forged = Buffer.from(JSON.stringify({ sub: 'spiffe://nsm.local/nsc', aud: [peer?.id], exp: Math.floor(t.expires / 1000) + 3600 })).toString('base64url');
          return { token: `${h0}.${forged}.${s}`, expires: t.expires };
        },
        /prev_token_signed/,
      ],
      [
        'wrong audience',
        () => ({ token: signEs256({ sub: 'spiffe://nsm.local/nsc', aud: ['spiffe://nsm.local/not-the-nsmgr'], exp: Math.floor(Date.now() / 1000) + 60 }, key), expires: Date.now() + 60_000 }),
        /tokens_chained/,
      ],
      ['expired', sandbox.token('nsc', -5000), /tokens_expired/],
    ];
    for (const [what, token, why] of variants) {
      const chain = client({ name: 'nsc', pool: sandbox.poolFor('nsc'), url, token, refresh: false, inodeUrlOf: inodeUrlOfFile });
      await expect(firstValueFrom(chain.handler.request(request(`nsc-${what.replace(' ', '-')}`), budget())), what).rejects.toMatchObject({ code: 7, message: expect.stringMatching(why) });
    }
    const nsc = sandbox.client('nsc', url, { retry: false });
    const conn = await nsc.request(request('nsc-good'));
    expect(conn.path?.pathSegments.map((s) => decodeJwt(s.token).claims.sub)).toEqual([
      'spiffe://nsm.local/nsc',
      'spiffe://nsm.local/nsmgr-0',
      'spiffe://nsm.local/forwarder-0-0',
      'spiffe://nsm.local/final-endpoint',
    ]);
    await nsc.close(conn);
  });

  it('MonitorConnections is open as upstream’s: a caller that owns no connection asks with an empty selector (as the dashboard backend) and gets every connection of the nsmgr', async () => {
    const mesh = await Mesh.build(h.sandbox);
    await mesh.endpoint(0, 'final-endpoint');
    const url = mesh.nodes[0]!.nsmgr.url;
    const nsc = h.sandbox.client('nsc', url, { retry: false });
    const conn = await nsc.request(request('nsc-1'));
    const channel = h.sandbox.poolFor('dashboard').acquire(url);
    const initial = await firstValueFrom(serverStreamCall(channel, MonitorConnectionService.monitorConnections, { pathSegments: [], networkServices: [] }, Context.background)).finally(() => channel.release());
    expect(initial.type).toBe(ConnectionEventType.INITIAL_STATE_TRANSFER);
    expect(Object.values(initial.connections).map((c) => c.path?.pathSegments[0]?.id)).toEqual([conn.path!.pathSegments[0]!.id]);
    await nsc.close(conn);
  });

  it('with the monitor policy (NSM_MONITOR_POLICIES=service_connection) a subscriber that owns no connection in its selector gets nothing (PERMISSION_DENIED); the owner gets its connection', async () => {
    const sandbox = await h.recreate({ secure: true, policies: { monitor: resolvePolicies([monitorServiceConnection]) } });
    const mesh = await Mesh.build(sandbox);
    await mesh.endpoint(0, 'final-endpoint');
    const url = mesh.nodes[0]!.nsmgr.url;
    const nsc = sandbox.client('nsc', url, { retry: false });
    const conn = await nsc.request(request('nsc-1'));
    const own = { ...conn.path!.pathSegments[0]!, token: '' };
    const watch = (as: string, pathSegments = [own]) => {
      const channel = sandbox.poolFor(as).acquire(url);
      return firstValueFrom(serverStreamCall(channel, MonitorConnectionService.monitorConnections, { pathSegments, networkServices: [] }, Context.background)).finally(() => channel.release());
    };
    await expect(watch('nosy')).rejects.toMatchObject({ code: 7, message: expect.stringContaining('owns none') });
    await expect(watch('dashboard', [])).rejects.toMatchObject({ code: 7, message: expect.stringContaining('must select the connections it owns') });
    expect(Object.values((await watch('nsc')).connections).map((c) => c.path?.pathSegments[0]?.id)).toEqual([own.id]);
    await nsc.close(conn);
  });

  it('SVID rotation during live connections breaks nothing: new SVIDs every 3 s, refreshing for 7 s, all policies on, then Close', async () => {
    // Tokens never outlive the SVIDs (6 s), and a hop times a connection out at its token's
    // expiry − the request budget: Registers get a short budget here.
    const sandbox = await h.recreate({ secure: true, svidTtlMs: 6000, policies: { server: common } });
    const mesh = await Mesh.build(sandbox, { registrationBudget: 1000 });
    const nse = await mesh.endpoint(0, 'final-endpoint');
    const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { retry: false, tokenLifetime: 1500 });
    const before = sandbox.identity('nsmgr-0').current.svid.chain[0]!.serialNumber;
    const conn = await nsc.request(request('nsc-1'), 1000);
    await new Promise((r) => setTimeout(r, 7000));
    expect(sandbox.identity('nsmgr-0').current.svid.chain[0]!.serialNumber).not.toBe(before);
    expect(nse.counter.requests).toBeGreaterThanOrEqual(10); // the refreshes kept passing every policy
    expect(nse.counter.closes).toBe(0);
    await nsc.close(conn);
    expect(nse.counter.closes).toBe(1);
  });
});

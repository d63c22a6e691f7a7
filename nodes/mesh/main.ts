import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncScheduler, firstValueFrom, lastValueFrom, type Subscription } from 'rxjs';
import { ConnectionEventType, MonitorConnectionService, State, type Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { NetworkService, NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { client } from '../../operators/chains/client.js';
import { endpoint, type Endpoint } from '../../operators/chains/endpoint.js';
import { forwarder } from '../../operators/chains/forwarder.js';
import { nsmgr } from '../../operators/chains/nsmgr.js';
import { memoryRegistry } from '../../operators/chains/registry.js';
import { registryClient, type RegistryClient } from '../../operators/chains/registryClient.js';
import { Context } from '../../operators/core/context.js';
import { mechanisms } from '../../operators/networkservice/mechanisms.js';
import { point2pointIpam } from '../../operators/networkservice/point2pointIpam.js';
import { retryClient } from '../../operators/networkservice/retry.js';
import { unixUrl, type NsmUrl } from '../../operators/tools/nsmUrl.js';
import { unsignedTokenGenerator } from '../../operators/tools/token.js';
import { NoopDatapath } from '../../dataplane/noop.js';
import { serverStreamCall } from '../../streams/grpc/call.js';
import { ChannelPool } from '../../streams/grpc/channelPool.js';
import { serveNetworkService } from '../../streams/grpc/networkService.js';
import { serveRegistries } from '../../streams/grpc/registry.js';
import { GrpcServer } from '../../streams/grpc/server.js';
import { defineComponent } from '../cli/components.js';
import { duration, optional, str } from '../cli/config.js';

const spec = {
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of every hop token; the client refreshes at 20% of it'),
  name: str('NSM_NAME', 'nsc', 'Name of the client; its connection id is <NSM_NAME>-0'),
  networkService: str('NSM_NETWORK_SERVICE', 'icmp-responder', 'Network service the client requests'),
  cidrPrefix: str('NSM_CIDR_PREFIX', '169.254.0.0/16', 'Address pool of the NSE'),
  dir: optional(str('NSM_MESH_DIR', '', 'Directory for the unix sockets (default: a new temp dir, removed on exit)')),
};

const say = (line: string) => process.stdout.write(`${line}\n`);

function describe(conn: Connection): string {
  const path = (conn.path?.pathSegments ?? []).map((s) => `${s.name}(${s.id.slice(0, 8)})`).join(' → ');
  const ip = conn.context?.ipContext;
  const addresses = ip ? ` src=${ip.srcIpAddrs.join(',') || '-'} dst=${ip.dstIpAddrs.join(',') || '-'}` : '';
  return `${conn.id} ${State[conn.state] ?? conn.state} service=${conn.networkService} mechanism=${conn.mechanism?.type ?? '-'}${addresses} path=${path}`;
}

/**
 * `nsm-rx mesh` (what `npm start` runs): a local mesh in one process, every node served over
 * gRPC on its own unix socket — a memory registry, an nsmgr that selects the forwarder, a
 * forwarder (no-op datapath) that discovers the endpoint, an icmp-responder NSE handing out
 * addresses, and an nsc — with the nsmgr's MonitorConnection events printed as they happen.
 * The kernel datapath replaces the no-op one, and separate processes replace the one process,
 * as those issues land.
 */
export const component = defineComponent({
  name: 'mesh',
  summary: 'local mesh: registry, nsmgr, forwarder, NSE and nsc over gRPC (npm start)',
  spec,
  async run(config, ctx) {
    const scheduler = asyncScheduler;
    const dir = config.dir || (await mkdtemp(join(tmpdir(), 'nsm-rx-mesh-')));
    const url = (name: string): NsmUrl => unixUrl(join(dir, `${name}.sock`));
    const token = (name: string) => unsignedTokenGenerator(name, config.maxTokenLifetime, () => scheduler.now());
    const budget = () => Context.background.withDeadline(scheduler.now() + 15_000);
    const pool = new ChannelPool();
    const servers: GrpcServer[] = [];
    const registrations: RegistryClient[] = [];
    const endpoints: Endpoint[] = [];
    const serve = async (name: string, setup: (server: GrpcServer) => void) => {
      const server = new GrpcServer();
      setup(server);
      await server.listen([url(name)]);
      servers.push(server);
      ctx.log.info('serving', { node: name, url: url(name).href });
    };
    const serveHop = (name: string, hop: Endpoint) => {
      endpoints.push(hop);
      return serve(name, (s) => serveNetworkService(s, hop.handler, hop.monitor));
    };
    const registryOf = () => {
      const r = registryClient({ pool, url: url('nsmgr') });
      registrations.push(r);
      return r;
    };

    const registry = memoryRegistry();
    await serve('registry', (s) => serveRegistries(s, registry.ns, registry.nse));
    const manager = nsmgr({ name: 'nsmgr', url: url('nsmgr'), registryUrl: url('registry'), pool, token: token('nsmgr'), logger: ctx.log });
    await serve('nsmgr', (s) => {
      serveNetworkService(s, manager.endpoint.handler, manager.endpoint.monitor);
      serveRegistries(s, manager.ns, manager.nse);
    });
    endpoints.push(manager.endpoint);

    await serveHop('forwarder', forwarder({ name: 'forwarder', registry: registryOf(), datapath: new NoopDatapath(), pool, token: token('forwarder') }));
    const forwarderEntry = await firstValueFrom(
      registryOf().nse.register(
        NetworkServiceEndpoint.fromPartial({ name: 'forwarder', networkServiceNames: ['forwarder'], networkServiceLabels: { forwarder: { labels: { p2p: 'true' } } }, url: url('forwarder').href }),
        budget(),
      ),
    );
    await serveHop('nse', endpoint({ name: 'nse', token: token('nse'), additional: [point2pointIpam([config.cidrPrefix]), mechanisms({ KERNEL: [] })] }));
    const nseRegistry = registryOf();
    const service = await firstValueFrom(nseRegistry.ns.register(NetworkService.fromPartial({ name: config.networkService, payload: 'ETHERNET' }), budget()));
    const nseEntry = await firstValueFrom(
      nseRegistry.nse.register(NetworkServiceEndpoint.fromPartial({ name: 'nse', networkServiceNames: [config.networkService], url: url('nse').href }), budget()),
    );
    say(`registered forwarder ${forwarderEntry.name}, service ${service.name} (payload ${service.payload}) and endpoint ${nseEntry.name} at ${nseEntry.url}`);

    const nsc = client({ name: config.name, pool, url: url('nsmgr'), token: token(config.name) });
    const request = NetworkServiceRequest.fromPartial({
      connection: { id: `${config.name}-0`, networkService: config.networkService },
      mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } }],
    });
    const conn = await firstValueFrom(retryClient(nsc.handler).request(request, budget()));
    say(`connected: ${describe(conn)}`);

    const channel = pool.acquire(url('nsmgr'));
    const own = conn.path?.pathSegments[0];
    const events: Subscription = serverStreamCall(
      channel.client,
      MonitorConnectionService.monitorConnections,
      { pathSegments: [{ name: own?.name ?? '', id: own?.id ?? '', token: '', expires: undefined, metrics: {} }], networkServices: [] },
      Context.background,
    ).subscribe({
      next: (e) => Object.values(e.connections).forEach((c) => say(`monitor ${ConnectionEventType[e.type]}: ${describe(c)}`)),
      error: (e: unknown) => say(`monitor stream ended: ${String(e)}`),
    });
    say('running; Ctrl-C closes the connection and stops every node');

    ctx.lifecycle.onShutdown('mesh', async () => {
      await lastValueFrom(nsc.handler.close(conn, budget()), { defaultValue: undefined }).catch((e: unknown) => ctx.log.warn('close failed', { error: String(e) }));
      say(`closed ${conn.id}`);
      events.unsubscribe();
      channel.release();
      await lastValueFrom(nseRegistry.nse.unregister(nseEntry, budget()), { defaultValue: undefined }).catch(() => undefined);
      await lastValueFrom(nseRegistry.ns.unregister(service, budget()), { defaultValue: undefined }).catch(() => undefined);
      say(`unregistered ${nseEntry.name}`);
      for (const r of registrations) r.dispose();
      nsc.state.metadata.dispose();
      for (const hop of endpoints) hop.state.metadata.dispose();
      manager.dispose();
      registry.dispose();
      await Promise.all(servers.map((s) => s.stop(500)));
      pool.closeAll();
      if (!config.dir) await rm(dir, { recursive: true, force: true });
    });
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  },
});

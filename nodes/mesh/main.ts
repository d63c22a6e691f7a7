import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncScheduler, firstValueFrom, lastValueFrom, type Subscription } from 'rxjs';
import { ConnectionEventType, MonitorConnectionService, State, type Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { NetworkService, NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { memoryRegistry } from '../../operators/chains/registry.js';
import { registryClient } from '../../operators/chains/registryClient.js';
import { serveRegistries } from '../../streams/grpc/registry.js';
import { client } from '../../operators/chains/client.js';
import { endpoint } from '../../operators/chains/endpoint.js';
import { Context } from '../../operators/core/context.js';
import { connect } from '../../operators/networkservice/connect.js';
import { mechanisms } from '../../operators/networkservice/mechanisms.js';
import { unixUrl, type NsmUrl } from '../../operators/tools/nsmUrl.js';
import { unsignedTokenGenerator } from '../../operators/tools/token.js';
import { serverStreamCall } from '../../streams/grpc/call.js';
import { ChannelPool } from '../../streams/grpc/channelPool.js';
import { serveNetworkService } from '../../streams/grpc/networkService.js';
import { GrpcServer } from '../../streams/grpc/server.js';
import { defineComponent } from '../cli/components.js';
import { duration, optional, str } from '../cli/config.js';

const spec = {
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of every hop token; the client refreshes at 20% of it'),
  name: str('NSM_NAME', 'nsc', 'Name of the client; its connection id is <NSM_NAME>-0'),
  networkService: str('NSM_NETWORK_SERVICE', 'icmp-responder', 'Network service the client requests'),
  dir: optional(str('NSM_MESH_DIR', '', 'Directory for the unix sockets (default: a new temp dir, removed on exit)')),
};

const say = (line: string) => process.stdout.write(`${line}\n`);

function describe(conn: Connection): string {
  const path = (conn.path?.pathSegments ?? []).map((s) => `${s.name}(${s.id.slice(0, 8)})`).join(' → ');
  return `${conn.id} ${State[conn.state] ?? conn.state} service=${conn.networkService} mechanism=${conn.mechanism?.type ?? '-'} path=${path}`;
}

/**
 * `nsm-rx mesh` (what `npm start` runs): a local mesh in one process, every node served over
 * gRPC on its own unix socket — a memory registry, and nsc → nsmgr → forwarder → nse — with the
 * NSE registered (and refreshed), the client refreshing, and the nsmgr's MonitorConnection
 * events printed as they happen. So far nsmgr and forwarder are passthrough chains with fixed
 * next hops; discovery and the datapath replace them as they land.
 */
export const component = defineComponent({
  name: 'mesh',
  summary: 'local mesh: registry, nsc → nsmgr → forwarder → nse over gRPC (npm start)',
  spec,
  async run(config, ctx) {
    const scheduler = asyncScheduler;
    const dir = config.dir || (await mkdtemp(join(tmpdir(), 'nsm-rx-mesh-')));
    const url = (name: string): NsmUrl => unixUrl(join(dir, `${name}.sock`));
    const token = (name: string) => unsignedTokenGenerator(name, config.maxTokenLifetime, () => scheduler.now());
    const pool = new ChannelPool();
    const servers: GrpcServer[] = [];

    const serve = async (name: string, additional: Parameters<typeof endpoint>[0]['additional']) => {
      const hop = endpoint({ name, token: token(name), additional });
      const server = new GrpcServer();
      serveNetworkService(server, hop.handler, hop.monitor);
      await server.listen([url(name)]);
      servers.push(server);
      ctx.log.info('serving', { hop: name, url: url(name).href });
      return hop;
    };
    const passthrough = (name: string, next: string) =>
      serve(name, [connect(client({ name, pool, url: url(next), refresh: false, token: token(name) }).handler)]);

    // The registry, and the NSE registering its service and itself (refreshed until shutdown).
    const registry = memoryRegistry();
    const registryServer = new GrpcServer();
    serveRegistries(registryServer, registry.ns, registry.nse);
    await registryServer.listen([url('registry')]);
    servers.push(registryServer);
    const registrations = registryClient({ pool, url: url('registry') });
    const budget = () => Context.background.withDeadline(scheduler.now() + 15_000);
    const service = await firstValueFrom(registrations.ns.register(NetworkService.fromPartial({ name: config.networkService, payload: 'ETHERNET' }), budget()));
    const nseEntry = await firstValueFrom(
      registrations.nse.register(
        NetworkServiceEndpoint.fromPartial({ name: 'nse', networkServiceNames: [config.networkService], url: url('nse').href }),
        budget(),
      ),
    );
    say(`registered service ${service.name} (payload ${service.payload}) and endpoint ${nseEntry.name} at ${nseEntry.url}`);

    await serve('nse', [mechanisms({ KERNEL: [] })]);
    await passthrough('forwarder', 'nse');
    await passthrough('nsmgr', 'forwarder');

    const nsc = client({ name: config.name, pool, url: url('nsmgr'), token: token(config.name) });
    const request = NetworkServiceRequest.fromPartial({
      connection: { id: `${config.name}-0`, networkService: config.networkService },
      mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } }],
    });
    const conn = await firstValueFrom(nsc.handler.request(request, Context.background.withDeadline(scheduler.now() + 15_000)));
    say(`connected: ${describe(conn)}`);

    const nsmgr = pool.acquire(url('nsmgr'));
    const own = conn.path?.pathSegments[0];
    const events: Subscription = serverStreamCall(
      nsmgr.client,
      MonitorConnectionService.monitorConnections,
      { pathSegments: [{ name: own?.name ?? '', id: own?.id ?? '', token: '', expires: undefined, metrics: {} }], networkServices: [] },
      Context.background,
    ).subscribe({
      next: (e) => Object.values(e.connections).forEach((c) => say(`monitor ${ConnectionEventType[e.type]}: ${describe(c)}`)),
      error: (e: unknown) => say(`monitor stream ended: ${String(e)}`),
    });
    say('running; Ctrl-C closes the connection and stops every hop');

    ctx.lifecycle.onShutdown('mesh', async () => {
      await lastValueFrom(nsc.handler.close(conn, Context.background.withDeadline(scheduler.now() + 5000)), { defaultValue: undefined }).catch(
        (e: unknown) => ctx.log.warn('close failed', { error: String(e) }),
      );
      say(`closed ${conn.id}`);
      await lastValueFrom(registrations.nse.unregister(nseEntry, budget()), { defaultValue: undefined }).catch(() => undefined);
      await lastValueFrom(registrations.ns.unregister(service, budget()), { defaultValue: undefined }).catch(() => undefined);
      registrations.dispose();
      registry.dispose();
      say(`unregistered ${nseEntry.name}`);
      events.unsubscribe();
      nsmgr.release();
      nsc.state.metadata.dispose();
      await Promise.all(servers.map((s) => s.stop(500)));
      pool.closeAll();
      if (!config.dir) await rm(dir, { recursive: true, force: true });
    });
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  },
});

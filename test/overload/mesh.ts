// The overload's mesh and the calls it takes: a registry-memory, an nsmgr, a forwarder-noop and an
// nse-icmp-responder as OS processes in this netns (unix sockets only: the noop forwarder programs
// nothing, so 10,000 connections need no kernel interface), and the runner as their nsc.
import { Metadata } from '../../operators/core/callMetadata.js';
import { firstValueFrom, lastValueFrom, mergeMap, range, toArray, type Observable } from 'rxjs';
import { Context } from '../../operators/core/context.js';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import { MonitorConnectionService, type Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest, NetworkServiceService } from '../../proto/gen/networkservice.js';
import { NetworkServiceEndpoint, NetworkServiceEndpointRegistryService } from '../../proto/gen/registry.js';
import type { PooledChannel } from '../../streams/grpc/channelPool.js';
import { outgoingMetadataKey, serverStreamCall, unaryCall } from '../../streams/grpc/call.js';
import { registryPathJson, registryPathMetadataKey } from '../../operators/registry/grpcMetadata.js';
import { ProcessMesh, registeredEndpoints, type Daemon } from '../process/processMesh.js';

/** The service the burst's NSEs register (none of them serves it: they are names in the registry). */
export const burstService = 'overload';

export class OverloadMesh {
  readonly mesh = new ProcessMesh();
  readonly daemons: ReadonlyMap<string, Daemon>;

  constructor() {
    const m = this.mesh;
    const registry = m.start(undefined, 'registry-memory', { NSM_LISTEN_ON: m.sock('registry') });
    const nsmgr = m.start(undefined, 'nsmgr', { NSM_NAME: 'nsmgr', NSM_LISTEN_ON: m.sock('nsmgr'), NSM_REGISTRY_URL: m.sock('registry'), NSM_EXCLUDED_PREFIXES_FILE: `${m.dir}/excluded.yaml` });
    const forwarder = m.start(undefined, 'forwarder-noop', { NSM_NAME: 'forwarder', NSM_CONNECT_TO: m.sock('nsmgr'), NSM_LISTEN_ON: m.sock('forwarder') });
    // A /16: 32,768 point-to-point pairs, room for the whole burst.
    const nse = m.start(undefined, 'nse-icmp-responder', { NSM_NAME: 'icmp-server', NSM_CONNECT_TO: m.sock('nsmgr'), NSM_CIDR_PREFIX: '169.254.0.0/16' });
    this.daemons = new Map([
      ['registry', registry],
      ['nsmgr', nsmgr],
      ['forwarder', forwarder],
      ['nse', nse],
    ]);
  }

  readonly nsmgrUrl = parseNsmUrl(this.mesh.sock('nsmgr'));
  readonly registryUrl = parseNsmUrl(this.mesh.sock('registry'));

  /** Names of the daemons that have exited. */
  exited(): string[] {
    return [...this.daemons].filter(([, d]) => d.child.exitCode !== null || d.child.signalCode !== null).map(([name]) => name);
  }

  async dispose(): Promise<void> {
    await this.mesh.dispose();
  }
}

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: {} };
const within = (ms: number) => Context.background.withDeadline(Date.now() + ms);

/** A Request for connection `id` of icmp-responder, as the nsc's first segment (no deadline: undefined). */
export function request(channel: PooledChannel, id: string, deadlineMs: number | undefined): Observable<Connection> {
  const req = NetworkServiceRequest.fromPartial({
    connection: { id, networkService: 'icmp-responder', path: { index: 0, pathSegments: [{ name: 'overload', id }] } },
    mechanismPreferences: [kernel],
  });
  return unaryCall(channel, NetworkServiceService.request, req, deadlineMs === undefined ? Context.background : within(deadlineMs));
}

export function close(channel: PooledChannel, conn: Connection, deadlineMs: number): Observable<unknown> {
  return unaryCall(channel, NetworkServiceService.close, conn, within(deadlineMs));
}

/**
 * A registry call as a first hop makes it: an empty registry path in the `path` metadata (the
 * registry puts the caller's token and its own on it; without one the path policies refuse).
 */
const asFirstHop = (deadlineMs: number) => {
  const md = new Metadata();
  md.set(registryPathMetadataKey, registryPathJson({ index: 0, pathSegments: [] }));
  return within(deadlineMs).with(outgoingMetadataKey, md);
};

/** NSE `name` of the burst's service; its URL is nowhere, as nothing dials it. */
export function register(channel: PooledChannel, name: string, deadlineMs: number): Observable<NetworkServiceEndpoint> {
  const nse = NetworkServiceEndpoint.fromPartial({ name, networkServiceNames: [burstService], url: 'unix:///nowhere.sock' });
  return unaryCall(channel, NetworkServiceEndpointRegistryService.register, nse, asFirstHop(deadlineMs));
}

export function unregister(channel: PooledChannel, nse: NetworkServiceEndpoint, deadlineMs: number): Observable<unknown> {
  return unaryCall(channel, NetworkServiceEndpointRegistryService.unregister, nse, asFirstHop(deadlineMs));
}

/** The connections the nsmgr reports to the nsc (its monitor's initial state). */
export async function nsmgrConnections(channel: PooledChannel): Promise<Connection[]> {
  const first = await firstValueFrom(serverStreamCall(channel, MonitorConnectionService.monitorConnections, { pathSegments: [], networkServices: [] }, within(10_000)));
  return Object.values(first.connections);
}

/**
 * A connection the nsmgr reports, as its first hop sees it (index 0, the nsc's id): what a client
 * Closes when it adopts a connection it never got the answer for.
 */
export function asFirstHopSees(conn: Connection): Connection {
  const first = conn.path?.pathSegments[0];
  return { ...conn, id: first?.id ?? conn.id, path: conn.path ? { ...conn.path, index: 0 } : undefined };
}

/** How many NSEs of the burst's service the registry holds. */
export async function burstEndpoints(mesh: OverloadMesh, pool: Parameters<typeof registeredEndpoints>[0]): Promise<number> {
  return (await registeredEndpoints(pool, mesh.registryUrl)).filter((e) => e.networkServiceNames.includes(burstService)).length;
}

/** `op` over `items`, at most `concurrency` at a time; resolves with how many failed. */
export async function each<T>(items: readonly T[], concurrency: number, op: (item: T) => Observable<unknown>): Promise<number> {
  const failed = await lastValueFrom(
    range(0, items.length).pipe(
      mergeMap(
        (i) =>
          firstValueFrom(op(items[i] as T)).then(
            () => 0,
            () => 1,
          ),
        concurrency,
      ),
      toArray(),
    ),
    { defaultValue: [] },
  );
  return failed.reduce((a: number, b: number) => a + b, 0);
}

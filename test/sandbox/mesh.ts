import { ConnectionMonitor } from '../../streams/monitorConnections.js';
import { firstValueFrom, type Observable } from 'rxjs';
import { NetworkService, NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { endpoint, type Endpoint } from '../../operators/chains/endpoint.js';
import { forwarder } from '../../operators/chains/forwarder.js';
import { nsmgr, type Nsmgr } from '../../operators/chains/nsmgr.js';
import { registryClient, type RegistryClient } from '../../operators/chains/registryClient.js';
import type { NsmUrl } from '../../operators/tools/nsmUrl.js';
import { ChannelPool } from '../../streams/grpc/channelPool.js';
import { registryViews, type RegistryViews } from '../../streams/registryViews.js';
import { Context } from '../../operators/core/context.js';
import type { NetworkServiceElement } from '../../operators/core/networkservice.js';
import { mechanisms } from '../../operators/networkservice/mechanisms.js';
import { kernelMechanismServer } from '../../operators/networkservice/kernelMechanismServer.js';
import { NoopDatapath } from '../../dataplane/noop.js';
import type { Datapath } from '../../dataplane/datapath.js';
import { authorizeMonitor } from '../../operators/authorize/authorizeMonitor.js';
import { serveNetworkService } from '../../streams/grpc/networkService.js';
import { serveRegistries } from '../../streams/grpc/registry.js';
import type { GrpcServer } from '../../streams/grpc/server.js';
import type { ServedRegistry } from './sandbox.js';
import { ServedEndpoint, type Sandbox, type SandboxNode, type Served } from './sandbox.js';
import { inodeUrlOfFile } from '../../dataplane/kernel/netns.js';

/** An nsmgr as a sandbox node: NetworkService, MonitorConnection and both registries. */
export class ServedNsmgr implements Served {
  constructor(
    readonly nsmgr: Nsmgr,
    private readonly registryPool: ChannelPool,
    private readonly ownersOnly: boolean,
  ) {}
  serve(server: GrpcServer): void {
    serveNetworkService(server, this.nsmgr.endpoint.handler, this.nsmgr.endpoint.monitor, this.ownersOnly ? authorizeMonitor(this.nsmgr.endpoint.owners) : undefined);
    serveRegistries(server, this.nsmgr.ns, this.nsmgr.nse);
  }
  leftovers(): string[] {
    return new ServedEndpoint(this.nsmgr.endpoint).leftovers();
  }
  dispose(): void {
    new ServedEndpoint(this.nsmgr.endpoint).dispose();
    this.nsmgr.dispose();
    this.registryPool.closeAll();
  }
}

/** A hop that registers itself through its nsmgr once it listens (forwarders, NSEs). */
export class ServedRegisteredEndpoint extends ServedEndpoint {
  private registrations: RegistryClient | undefined;
  constructor(
    endpoint: Endpoint,
    private readonly register: (registry: RegistryClient) => Promise<unknown>,
    private readonly nsmgrUrl: NsmUrl,
    /** Its own channels to the nsmgr: registrations (and discovery views) live as long as the hop, not a connection. */
    private readonly registryPool: ChannelPool,
    ownersOnly: boolean,
    /** A forwarder's discovery views, ended with the hop. */
    private readonly views?: RegistryViews,
  ) {
    super(endpoint, ownersOnly);
  }
  async started(): Promise<void> {
    this.registrations = registryClient({ pool: this.registryPool, url: this.nsmgrUrl });
    await this.register(this.registrations);
  }
  override dispose(): void {
    super.dispose();
    this.views?.dispose();
    this.registrations?.dispose(); // a dead process stops refreshing; its entry expires
    this.registryPool.closeAll();
  }
}

/** One node of the mesh: its nsmgr and forwarders. */
export interface MeshNode {
  readonly nsmgr: SandboxNode<ServedNsmgr>;
  readonly forwarders: SandboxNode<ServedRegisteredEndpoint>[];
  readonly datapaths: Map<string, NoopDatapath>;
}


/**
 * Upstream's sandbox builder, on real gRPC: a registry, and per node an nsmgr (loopback TCP,
 * so hops between nodes are remote) with forwarders (unix sockets) registered through it as
 * NSEs of service `forwarder` labelled p2p=true; endpoints register through their node's nsmgr.
 */
export class Mesh {
  readonly nodes: MeshNode[] = [];
  private constructor(
    readonly sandbox: Sandbox,
    readonly registry: SandboxNode<ServedRegistry>,
    private readonly excludedPrefixes: Observable<string[]> | undefined,
    private readonly env: Readonly<Record<string, string>>,
    private readonly unixSockets: boolean,
    /** Budget of each Register a hop makes, ms: the registry unregisters at expiry − this (upstream's rule). */
    private readonly registrationBudget: number,
    /** Before every node's name (domains of one test keep their names apart). */
    private readonly prefix: string,
  ) {}

  private budget(): Context {
    return Context.background.withDeadline(Date.now() + this.registrationBudget);
  }

  static async build(
    sandbox: Sandbox,
    options: {
      nodes?: number;
      expirePeriod?: number;
      excludedPrefixes?: Observable<string[]>;
      defaultForwarder?: boolean;
      /** NODE_NAME, POD_NAME, CLUSTER_NAME as the nsmgrs see them (default: none). */
      env?: Readonly<Record<string, string>>;
      /** nsmgrs on unix sockets too (upstream UseUnixSockets), not loopback TCP. */
      unixSockets?: boolean;
      /** Budget of the hops' Registers (default 5 s); keep it well under a short `expirePeriod`. */
      registrationBudget?: number;
      /** The registry (default: a memory registry built here). */
      registry?: SandboxNode<ServedRegistry>;
      /** Before the nsmgrs' and forwarders' names (e.g. `cluster1-`). */
      prefix?: string;
    } = {},
  ): Promise<Mesh> {
    const registry = options.registry ?? (await sandbox.registry('registry', options.expirePeriod ? { expirePeriod: options.expirePeriod } : {}));
    const mesh = new Mesh(sandbox, registry, options.excludedPrefixes, options.env ?? {}, options.unixSockets ?? false, options.registrationBudget ?? 5000, options.prefix ?? '');
    for (let i = 0; i < (options.nodes ?? 1); i++) await mesh.addNode(options.defaultForwarder ?? true);
    return mesh;
  }

  /** The registries as a hop on node `i` sees them (through its nsmgr), for discovery. */
  registryOf(i: number): RegistryClient {
    return this.sandbox.registryClient((this.nodes[i] as MeshNode).nsmgr.url, { track: false, as: `discovery-${i}` });
  }

  /** A node: its nsmgr and (unless told otherwise) one p2p forwarder. */
  async addNode(withForwarder = true): Promise<MeshNode> {
    const i = this.nodes.length;
    const s = this.sandbox;
    const name = `${this.prefix}nsmgr-${i}`;
    const node: MeshNode = {
      nsmgr: await s.node<ServedNsmgr>(
        name,
        (n) =>
          {
            const registryPool = s.newPool(name);
            return new ServedNsmgr(
              nsmgr({
                name,
                url: n.url,
                registryUrl: this.registry.url,
                pool: s.poolFor(name),
                registryPool,
                token: s.token(name),
                inodeUrlOf: inodeUrlOfFile,
                policies: s.policies,
                dialTimeout: s.dialTimeout,
                scheduler: s.scheduler,
                ...(this.excludedPrefixes ? { excludedPrefixes: this.excludedPrefixes } : {}),
                ...(s.metrics ? { metrics: s.metrics } : {}),
                env: this.env,
              }),
              registryPool,
              s.monitorOwnersOnly,
            );
          },
        { tcp: !this.unixSockets },
      ),
      forwarders: [],
      datapaths: new Map(),
    };
    this.nodes.push(node);
    if (withForwarder) await this.addForwarder(i);
    return node;
  }

  /** Another forwarder on node `i` (labels default p2p=true). */
  async addForwarder(
    i: number,
    options: { name?: string; labels?: Record<string, string>; datapath?: Datapath; mechanismPriority?: readonly string[]; additional?: readonly NetworkServiceElement[] } = {},
  ): Promise<SandboxNode<ServedRegisteredEndpoint>> {
    const node = this.nodes[i] as MeshNode;
    const name = options.name ?? `${this.prefix}forwarder-${i}-${node.forwarders.length}`;
    const s = this.sandbox;
    const datapath = options.datapath ?? new NoopDatapath();
    if (datapath instanceof NoopDatapath) node.datapaths.set(name, datapath);
    const fwd = await s.node<ServedRegisteredEndpoint>(name, (n) => {
      const registryPool = s.newPool(name);
      const views = registryViews(registryClient({ pool: registryPool, url: node.nsmgr.url, scheduler: s.scheduler }), { scheduler: s.scheduler });
      return new ServedRegisteredEndpoint(
        forwarder({
          name,
          registry: this.registryOf(i),
          views,
          datapath,
          pool: s.poolFor(name),
          token: s.token(name),
          inodeUrlOf: inodeUrlOfFile,
          policies: s.policies.server,
          dialTimeout: s.dialTimeout,
          ...(options.mechanismPriority ? { mechanismPriority: options.mechanismPriority } : {}),
          additional: [...n.probes, ...(options.additional ?? [])],
          scheduler: s.scheduler,
        }),
        (r) =>
          firstValueFrom(
            r.nse.register(
              NetworkServiceEndpoint.fromPartial({ name, networkServiceNames: ['forwarder'], networkServiceLabels: { forwarder: { labels: options.labels ?? { p2p: 'true' } } }, url: n.url.href }),
              this.budget(),
            ),
          ),
        node.nsmgr.url,
        registryPool,
        s.monitorOwnersOnly,
        views,
      );
    });
    node.forwarders.push(fwd);
    return fwd;
  }

  /** An NSE on node `i` serving `services` (registered with `labels`), after `additional` elements. */
  async endpoint(
    i: number,
    name: string,
    options: {
      services?: string[];
      labels?: Record<string, string>;
      payload?: string;
      /** Before its mechanisms; a function gets the monitor the NSE publishes on (vl3DnsServer, vl3MtuServer). */
      additional?: readonly NetworkServiceElement[] | ((monitor: ConnectionMonitor) => readonly NetworkServiceElement[]);
      /** The NSE's netns as an inodeURL, for a kernel datapath to put its interface in. */
      netnsUrl?: () => string;
      /** Register its services too (default); off when the test registered them with matches. */
      registerServices?: boolean;
    } = {},
  ): Promise<SandboxNode<ServedRegisteredEndpoint>> {
    const services = options.services ?? ['ns'];
    const s = this.sandbox;
    return s.node<ServedRegisteredEndpoint>(name, (n) => {
      const monitor = new ConnectionMonitor();
      const additional = typeof options.additional === 'function' ? options.additional(monitor) : (options.additional ?? []);
      return new ServedRegisteredEndpoint(
        endpoint({ name, token: s.token(name), scheduler: s.scheduler, policies: s.policies.server, monitor, additional: [...n.probes, ...additional, mechanisms({ KERNEL: options.netnsUrl ? [kernelMechanismServer(options.netnsUrl)] : [] })] }),
        async (r) => {
          if (options.registerServices ?? true) {
            for (const ns of services) await firstValueFrom(r.ns.register(NetworkService.fromPartial({ name: ns, payload: options.payload ?? 'ETHERNET' }), this.budget()));
          }
          await firstValueFrom(
            r.nse.register(
              NetworkServiceEndpoint.fromPartial({
                name,
                networkServiceNames: services,
                networkServiceLabels: Object.fromEntries(services.map((ns) => [ns, { labels: options.labels ?? {} }])),
                url: n.url.href,
              }),
              this.budget(),
            ),
          );
        },
        (this.nodes[i] as MeshNode).nsmgr.url,
        s.newPool(name),
        s.monitorOwnersOnly,
      );
    });
  }
}

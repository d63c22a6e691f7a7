import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncScheduler, firstValueFrom, lastValueFrom, type SchedulerLike } from 'rxjs';
import type { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { client, type Client } from '../../operators/chains/client.js';
import { endpoint, type Endpoint } from '../../operators/chains/endpoint.js';
import { memoryRegistry, type MemoryRegistry } from '../../operators/chains/registry.js';
import { registryClient, type RegistryClient } from '../../operators/chains/registryClient.js';
import { serveRegistries } from '../../streams/grpc/registry.js';
import { Context } from '../../operators/core/context.js';
import type { NetworkServiceElement, NetworkServiceHandler } from '../../operators/core/networkservice.js';
import { connect } from '../../operators/networkservice/connect.js';
import { mechanisms } from '../../operators/networkservice/mechanisms.js';
import { retryClient } from '../../operators/networkservice/retry.js';
import { heal } from '../../operators/networkservice/heal.js';
import type { LivenessCheck } from '../../dataplane/datapath.js';
import type { ReselectFunc } from '../../operators/networkservice/begin/eventFactory.js';
import { unsignedTokenGenerator, type TokenGenerator } from '../../operators/tools/token.js';
import { ChannelPool } from '../../streams/grpc/channelPool.js';
import { createCa } from '../../streams/spiffe/ca.js';
import { caSource } from '../../streams/spiffe/rotation.js';
import type { X509Source } from '../../streams/spiffe/svid.js';
import { spiffeTokenGenerator } from '../../streams/spiffe/token.js';
import { authorizeMonitor } from '../../operators/authorize/authorizeMonitor.js';
import { serveNetworkService } from '../../streams/grpc/networkService.js';
import type { CallObserver, Metrics } from '../../operators/tools/metrics.js';
import type { CallTracing } from '../../operators/tools/tracing.js';
import { GrpcServer } from '../../streams/grpc/server.js';
import { parseNsmUrl, tcpUrl, type NsmUrl } from '../../operators/tools/nsmUrl.js';
import { Counter } from './counter.js';
import { ErrorInjector } from './injectError.js';
import { inodeUrlOfFile } from '../../dataplane/kernel/netns.js';

export interface SandboxOptions {
  scheduler?: SchedulerLike;
  /**
   * Mutual TLS with an SVID per node and client from one test CA, ES256 tokens signed with them
   * (as upstream's sandbox). Default: plaintext, unsigned tokens.
   */
  secure?: boolean;
  /** SVID lifetime in a secure sandbox (rotation at half of it); default 1 h. */
  svidTtlMs?: number;
  /**
   * Policy files the hops enforce: `server` on NetworkService, `registryServer` on registries,
   * `monitor` on MonitorConnections (service_connection, in a secure sandbox: owners only).
   */
  policies?: { readonly server?: readonly string[]; readonly registryServer?: readonly string[]; readonly monitor?: readonly string[] };
  /** Lifetime of every hop's token (upstream sandbox: 1 h). */
  tokenLifetime?: number;
  /** Dial timeout of every client (upstream sandbox: 2 s). */
  dialTimeout?: number;
  /** Every gRPC call served and made, and the nsmgrs' path counters, go here (as PROMETHEUS=true daemons). */
  metrics?: Metrics;
  /** Every gRPC call served and made gets its span here (as TELEMETRY=true daemons). */
  tracing?: CallTracing;
}

/** A loopback port free right now (a node's URL must be known before it serves: nsmgrs put it in registrations). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** What a sandbox node serves: built fresh on every (re)start, dropped when it dies. */
export interface Served {
  serve(server: GrpcServer): void;
  /** Runs once the node listens (e.g. registers itself through its nsmgr). */
  started?(): Promise<void>;
  /** State still held for connections or registrations (must be empty at the end of a test). */
  leftovers(): string[];
  /** Releases everything, as a dying process would. */
  dispose(): void;
}

/** A NetworkService hop (nsmgr, forwarder, NSE) as a sandbox node. */
export class ServedEndpoint implements Served {
  /** `ownersOnly`: monitors answer only the SPIFFE ID that Requested a connection. */
  constructor(
    readonly endpoint: Endpoint,
    readonly ownersOnly = false,
  ) {}
  serve(server: GrpcServer): void {
    serveNetworkService(server, this.endpoint.handler, this.endpoint.monitor, this.ownersOnly ? authorizeMonitor(this.endpoint.owners) : undefined);
  }
  leftovers(): string[] {
    const { begin, metadata } = this.endpoint.state;
    const out: string[] = [];
    if (begin.connections.size) out.push(`begin holds ${[...begin.connections.keys()].join(',')}`);
    if (metadata.connections.size) out.push(`metadata holds ${metadata.connections.size}`);
    if (this.endpoint.monitor.size) out.push(`monitor holds ${this.endpoint.monitor.size}`);
    return out;
  }
  dispose(): void {
    this.endpoint.state.metadata.dispose();
    this.endpoint.monitor.complete();
  }
}

/** A memory registry as a sandbox node; registrations are its state, not leaks. */
export class ServedRegistry implements Served {
  /** `pool`: its own channels to a proxy registry (watches through it live as long as the registry). */
  constructor(
    readonly registry: MemoryRegistry,
    private readonly pool?: ChannelPool,
  ) {}
  serve(server: GrpcServer): void {
    serveRegistries(server, this.registry.ns, this.registry.nse);
  }
  leftovers(): string[] {
    const orphans = [...this.registry.state.begin.names].filter(([name, entry]) => entry.loops.size > 0 && this.registry.stores.nse.get(name) === undefined).map(([name]) => name);
    return orphans.length ? [`expiry timers for unregistered ${orphans.join(',')}`] : [];
  }
  dispose(): void {
    this.registry.dispose();
    this.pool?.closeAll();
  }
}

/**
 * One node served over real gRPC on a unix socket in the sandbox's temp dir. Restartable:
 * `kill` drops the socket and all state as a crashed process would; `restart` serves freshly
 * built state on the same URL. Counter and error injector survive restarts (they belong to the test).
 */
export class SandboxNode<S extends Served = ServedEndpoint> {
  readonly counter = new Counter();
  readonly errors = new ErrorInjector();
  private server: GrpcServer | undefined;
  private current: S | undefined;

  constructor(
    readonly name: string,
    private listenUrl: NsmUrl,
    private readonly build: (node: SandboxNode<S>) => S,
    private readonly scheduler: SchedulerLike,
    private readonly source: () => X509Source | undefined,
    private readonly observe?: CallObserver,
    private readonly tracing?: CallTracing,
  ) {}

  /** Where the node serves; a tcp node keeps the port it first got across restarts. */
  get url(): NsmUrl {
    return this.listenUrl;
  }

  /** What the node serves now (undefined while killed). */
  get served(): S | undefined {
    return this.current;
  }

  /** The live chain of a NetworkService hop (undefined while killed). */
  get endpoint(): Endpoint | undefined {
    return this.current instanceof ServedEndpoint ? this.current.endpoint : undefined;
  }

  get alive(): boolean {
    return this.server !== undefined;
  }

  /** Counter and error injector as chain elements, for builders to place. */
  get probes(): NetworkServiceElement[] {
    return [this.counter.element, this.errors.element];
  }

  async start(): Promise<this> {
    if (this.server) return this;
    const served = this.build(this);
    const source = this.source();
    const server = new GrpcServer({ scheduler: this.scheduler, ...(source ? { source } : {}), ...(this.observe ? { observe: this.observe } : {}), ...(this.tracing ? { tracing: this.tracing } : {}) });
    served.serve(server);
    const [bound] = await server.listen([this.listenUrl]);
    this.listenUrl = bound ?? this.listenUrl;
    this.current = served;
    this.server = server;
    await served.started?.();
    return this;
  }

  /** Dies at once: calls and streams cut, every timer and channel it held dropped. */
  async kill(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.kill();
    this.dropState();
  }

  async restart(): Promise<this> {
    await this.kill();
    return this.start();
  }

  /** Graceful stop (end of test). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.stop(200);
    this.dropState();
  }

  leftovers(): string[] {
    return (this.current?.leftovers() ?? []).map((l) => `${this.name}: ${l}`);
  }

  private dropState(): void {
    this.current?.dispose();
    this.current = undefined;
  }
}

/** Any prefix of a message's fields, nested (tests build requests from a few fields). */
export type DeepPartial<T> = T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** A client under test: Promise-shaped Request/Close over its chain, wrapped in retry. */
export class SandboxClient {
  readonly handler: NetworkServiceHandler;
  constructor(
    readonly chain: Client,
    private readonly scheduler: SchedulerLike,
    retry: boolean,
  ) {
    this.handler = retry ? retryClient(chain.handler, { scheduler }) : chain.handler;
  }

  /** Sends a Request within `budget` ms (default 15 s). */
  request(request: DeepPartial<NetworkServiceRequest>, budget = 15_000): Promise<Connection> {
    const ctx = Context.background.withDeadline(this.scheduler.now() + budget);
    return firstValueFrom(this.handler.request(NetworkServiceRequest.fromPartial(request as NetworkServiceRequest), ctx));
  }

  close(conn: Connection, budget = 15_000): Promise<void> {
    const ctx = Context.background.withDeadline(this.scheduler.now() + budget);
    return lastValueFrom(this.handler.close(conn, ctx), { defaultValue: undefined });
  }

  leftovers(): string[] {
    const out: string[] = [];
    if (this.chain.state.begin.connections.size) out.push(`client: begin holds ${this.chain.state.begin.connections.size}`);
    if (this.chain.state.metadata.connections.size) out.push(`client: metadata holds ${this.chain.state.metadata.connections.size}`);
    return out;
  }

  dispose(): void {
    this.chain.state.metadata.dispose();
  }
}

/**
 * The in-process sandbox: hops of a mesh served over real gRPC on unix sockets in a temp dir.
 * Later parts add registry, nsmgr and forwarder builders on top of `hop`, `endpoint` and
 * `passthrough`; scenarios read like upstream's sandbox tests.
 */
export class Sandbox {
  readonly pool: ChannelPool;
  readonly scheduler: SchedulerLike;
  readonly secure: boolean;
  readonly policies: { readonly server: readonly string[]; readonly registryServer: readonly string[]; readonly monitor: readonly string[] };
  /** The test CA of a secure sandbox (another trust domain's peers are strangers to it). */
  readonly ca = createCa('nsm.local', new Date(), 24 * 3_600_000);
  private readonly svidTtlMs: number;
  private readonly identities = new Map<string, { source: X509Source; stop: () => void }>();
  private readonly pools = new Map<string, ChannelPool>();
  readonly tokenLifetime: number;
  readonly dialTimeout: number;
  readonly metrics: Metrics | undefined;
  readonly tracing: CallTracing | undefined;
  private readonly nodes: SandboxNode<Served>[] = [];
  private readonly clients: SandboxClient[] = [];
  private readonly registryClients: RegistryClient[] = [];

  private constructor(
    readonly dir: string,
    options: SandboxOptions,
  ) {
    this.scheduler = options.scheduler ?? asyncScheduler;
    this.secure = options.secure ?? false;
    this.svidTtlMs = options.svidTtlMs ?? 3_600_000;
    this.policies = { server: options.policies?.server ?? [], registryServer: options.policies?.registryServer ?? [], monitor: options.policies?.monitor ?? [] };
    this.tokenLifetime = options.tokenLifetime ?? 3_600_000;
    this.metrics = options.metrics;
    this.tracing = options.tracing;
    this.pool = this.newPool('sandbox');
    this.dialTimeout = options.dialTimeout ?? 2000;
  }

  /** Hops' monitors answer owners only: a secure sandbox whose monitor policies are on (NSM_MONITOR_POLICIES). */
  get monitorOwnersOnly(): boolean {
    return this.secure && this.policies.monitor.length > 0;
  }

  static async create(options: SandboxOptions = {}): Promise<Sandbox> {
    return new Sandbox(await mkdtemp(join(tmpdir(), 'nsm-rx-sandbox-')), options);
  }

  /** A unix URL in the sandbox for `name`. */
  url(name: string): NsmUrl {
    return parseNsmUrl(`unix://${join(this.dir, `${name}.sock`)}`);
  }

  /** The SVID source of `name` (secure sandbox): `spiffe://nsm.local/<name>`, rotating. */
  identity(name: string): X509Source {
    let id = this.identities.get(name);
    if (id === undefined) this.identities.set(name, (id = caSource(this.ca, `spiffe://nsm.local/${name}`, { ttlMs: this.svidTtlMs })));
    return id.source;
  }

  /** The token `name` signs its segment and calls with (ES256 from its SVID when secure); `lifetime` overrides the sandbox's. */
  token(name: string, lifetime = this.tokenLifetime): TokenGenerator {
    return this.secure ? spiffeTokenGenerator(this.identity(name), lifetime, () => this.scheduler.now()) : unsignedTokenGenerator(name, lifetime, () => this.scheduler.now());
  }

  /** A new channel pool calling as `name` (its SVID and token when secure). */
  newPool(name: string): ChannelPool {
    const reconnectBackoff = { initialMs: 50, maxMs: 500 };
    // Registrations ride on pool tokens: an hour, as upstream's sandbox hops (a short sandbox token
    // lifetime is for connections; a registration would expire before its Register's budget).
    const observe = { ...(this.metrics ? { observe: this.metrics.grpcClient } : {}), ...(this.tracing ? { tracing: this.tracing } : {}) };
    return this.secure ? new ChannelPool({ source: this.identity(name), token: this.token(name, 3_600_000), reconnectBackoff, ...observe }) : new ChannelPool({ reconnectBackoff, ...observe });
  }

  /** The shared pool of `name`'s calls: the sandbox pool when plaintext, one per identity when secure. */
  poolFor(name: string): ChannelPool {
    if (!this.secure) return this.pool;
    let pool = this.pools.get(name);
    if (pool === undefined) this.pools.set(name, (pool = this.newPool(name)));
    return pool;
  }

  /** What `name` serves with: mutual TLS with its SVID when secure, plaintext otherwise. */
  serverSource(name: string): X509Source | undefined {
    return this.secure ? this.identity(name) : undefined;
  }

  /**
   * Starts a node serving what `build` makes (called again on every restart), on a unix socket
   * in the sandbox, or with `tcp` on a loopback port (what makes a hop "remote": nsmgrs), or at
   * `url` (a port reserved before, for a node others must know first).
   */
  async node<S extends Served>(name: string, build: (node: SandboxNode<S>) => S, options: { tcp?: boolean; url?: NsmUrl } = {}): Promise<SandboxNode<S>> {
    const url = options.url ?? (options.tcp ? tcpUrl('127.0.0.1', await freePort()) : this.url(name));
    const node = new SandboxNode<S>(name, url, build, this.scheduler, () => this.serverSource(name), this.metrics?.grpcServer, this.tracing);
    this.nodes.push(node as unknown as SandboxNode<Served>);
    return node.start();
  }

  /** Starts a NetworkService hop whose chain `build` makes. */
  hop(name: string, build: (node: SandboxNode) => Endpoint): Promise<SandboxNode> {
    return this.node(name, (node) => new ServedEndpoint(build(node), this.monitorOwnersOnly));
  }

  /** A final endpoint (NSE) accepting the KERNEL mechanism; `additional` runs before it. */
  endpoint(name: string, additional: readonly NetworkServiceElement[] = []): Promise<SandboxNode> {
    return this.hop(name, (hop) =>
      endpoint({
        name,
        token: this.token(name),
        scheduler: this.scheduler,
        policies: this.policies.server,
        additional: [...hop.probes, ...additional, mechanisms({ KERNEL: [] })],
      }),
    );
  }

  /** A passthrough hop (an nsmgr or forwarder without discovery): serves, then connects to `next`. */
  passthrough(name: string, next: NsmUrl | (() => NsmUrl)): Promise<SandboxNode> {
    return this.hop(name, (hop) =>
      endpoint({
        name,
        token: this.token(name),
        scheduler: this.scheduler,
        policies: this.policies.server,
        additional: [
          ...hop.probes,
          connect(
            client({
              name,
              pool: this.poolFor(name),
              url: typeof next === 'function' ? next() : next,
              dialTimeout: this.dialTimeout,
              refresh: false,
              token: this.token(name),
              inodeUrlOf: inodeUrlOfFile,
              scheduler: this.scheduler,
            }).handler,
          ),
        ],
      }),
    );
  }

  /**
   * A memory registry node (NSM_REGISTRATION_LIFETIME = `expirePeriod`, default 1 min); with
   * `proxyRegistryUrl` interdomain names go there; `tcp` serves it on loopback (a domain's registry, found through DNS).
   */
  registry(name = 'registry', options: { expirePeriod?: number; proxyRegistryUrl?: NsmUrl; tcp?: boolean } = {}): Promise<SandboxNode<ServedRegistry>> {
    const lifetime = options.expirePeriod === undefined ? {} : { lifetime: options.expirePeriod };
    const { proxyRegistryUrl } = options;
    return this.node(
      name,
      () => {
        const pool = proxyRegistryUrl ? this.newPool(name) : undefined;
        const proxy = proxyRegistryUrl && pool ? { proxyRegistryUrl, pool } : {};
        return new ServedRegistry(memoryRegistry({ ...lifetime, ...proxy, token: this.token(name), policies: this.policies.registryServer, scheduler: this.scheduler }), pool);
      },
      { tcp: options.tcp ?? false },
    );
  }

  /**
   * A daemon's registry client (register with refresh and heal, Find) talking to `url`; with
   * `track` (default) its state is part of the leak check, else it belongs to a node's lifecycle.
   */
  registryClient(url: NsmUrl, options: { track?: boolean; as?: string } = {}): RegistryClient {
    const c = registryClient({ pool: this.poolFor(options.as ?? 'registry-client'), url, scheduler: this.scheduler });
    if (options.track ?? true) this.registryClients.push(c);
    return c;
  }

  /** An NSC chain dialing `url`; with heal and `retry` (defaults) like upstream's sandbox NewClient. */
  client(
    name: string,
    url: NsmUrl,
    options: {
      retry?: boolean;
      refresh?: boolean;
      heal?: boolean;
      livenessCheck?: LivenessCheck;
      additional?: readonly NetworkServiceElement[];
      reselect?: ReselectFunc;
      /** Lifetime of this client's tokens (default: the sandbox's). */
      tokenLifetime?: number;
    } = {},
  ): SandboxClient {
    const chain = client({
      name,
      pool: this.poolFor(name),
      url,
      dialTimeout: this.dialTimeout,
      refresh: options.refresh ?? true,
      ...(options.heal === false ? {} : { heal: heal({ scheduler: this.scheduler, ...(options.livenessCheck ? { livenessCheck: options.livenessCheck } : {}) }) }),
      token: this.token(name, options.tokenLifetime),
      inodeUrlOf: inodeUrlOfFile,
      scheduler: this.scheduler,
      ...(options.additional ? { additional: options.additional } : {}),
      ...(options.reselect ? { reselect: options.reselect } : {}),
    });
    const c = new SandboxClient(chain, this.scheduler, options.retry ?? true);
    this.clients.push(c);
    return c;
  }

  /** State any hop or client still holds, and channels still borrowed: empty when nothing leaked. */
  leftovers(): string[] {
    const out = [
      ...this.nodes.flatMap((n) => n.leftovers()),
      ...this.clients.flatMap((c) => c.leftovers()),
      ...this.registryClients.flatMap((c) => c.leftovers().map((l) => `registry client: ${l}`)),
    ];
    const borrowed = this.pool.borrowed + [...this.pools.values()].reduce((n, p) => n + p.borrowed, 0);
    if (borrowed) out.push(`channel pool: ${borrowed} channel(s) still borrowed`);
    return out;
  }

  /** Stops every hop, drops clients' state, closes channels and removes the temp dir. */
  async cleanup(): Promise<void> {
    for (const c of this.clients) c.dispose();
    for (const c of this.registryClients) c.dispose();
    await Promise.all(this.nodes.map((n) => n.stop()));
    this.pool.closeAll();
    for (const p of this.pools.values()) p.closeAll();
    for (const id of this.identities.values()) id.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

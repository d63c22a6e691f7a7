import { firstValueFrom } from 'rxjs';
import { NetworkService } from '../../proto/gen/registry.js';
import { Context } from '../../operators/core/context.js';
import { Sandbox, freePort, type Served, type SandboxClient, type SandboxNode, type ServedRegistry, ServedEndpoint } from './sandbox.js';
import { Mesh, type MeshNode } from './mesh.js';
import { nsmgrProxy, type NsmgrProxy } from '../../operators/chains/nsmgrProxy.js';
import { registryProxyDns, type RegistryProxyDns } from '../../operators/chains/registryProxyDns.js';
import { DEFAULT_NSMGR_PROXY_SERVICE, DEFAULT_REGISTRY_SERVICE } from '../../operators/registry/dnsResolve.js';
import { tcpUrl, type NsmUrl } from '../../operators/tools/nsmUrl.js';
import { dnsResolver, type DnsResolver } from '../../streams/dns/resolver.js';
import { serveNetworkService } from '../../streams/grpc/networkService.js';
import { serveRegistries } from '../../streams/grpc/registry.js';
import type { GrpcServer } from '../../streams/grpc/server.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import { inodeUrlOfFile } from '../../dataplane/kernel/netns.js';
import { startDnsServer, type DnsEntry } from '../dnsServer.js';

/** A registry-proxy-dns as a sandbox node. */
class ServedRegistryProxyDns implements Served {
  /** `pool`: its channels to other domains' registries (their watches live as long as it does). */
  constructor(
    readonly proxy: RegistryProxyDns,
    private readonly pool: ChannelPool,
  ) {}
  serve(server: GrpcServer): void {
    serveRegistries(server, this.proxy.ns, this.proxy.nse);
  }
  leftovers(): string[] {
    return [];
  }
  dispose(): void {
    this.proxy.dispose();
    this.pool.closeAll();
  }
}

/** An nsmgr-proxy as a sandbox node: NetworkService, MonitorConnection and both registries. */
export class ServedNsmgrProxy implements Served {
  /** `registryPool`: its channels to the registries (watches through it live as long as it does). */
  constructor(
    readonly proxy: NsmgrProxy,
    private readonly registryPool: ChannelPool,
  ) {}
  serve(server: GrpcServer): void {
    serveNetworkService(server, this.proxy.endpoint.handler, this.proxy.endpoint.monitor);
    serveRegistries(server, this.proxy.ns, this.proxy.nse);
  }
  leftovers(): string[] {
    return new ServedEndpoint(this.proxy.endpoint).leftovers();
  }
  dispose(): void {
    new ServedEndpoint(this.proxy.endpoint).dispose();
    this.proxy.dispose();
    this.registryPool.closeAll();
  }
}

/** One DNS server for every domain of a test (a real dns2 server on loopback), and the resolver they use. */
export class DomainDns {
  private constructor(
    private readonly records: Record<string, DnsEntry>,
    private readonly server: { port: number; queries(): number; close(): Promise<void> },
    readonly resolver: DnsResolver,
  ) {}

  static async start(): Promise<DomainDns> {
    const records: Record<string, DnsEntry> = {};
    const server = await startDnsServer(records);
    return new DomainDns(records, server, dnsResolver({ servers: [{ address: '127.0.0.1', port: server.port }], timeoutMs: 1000, attempts: 2 }));
  }

  /** SRV and A records of `<service>.<domain>` for a tcp URL (upstream sandbox AddSRVEntry). */
  add(domain: string, service: string, url: NsmUrl): void {
    if (url.scheme !== 'tcp') throw new Error(`${service}.${domain}: only a tcp URL can be found through DNS`);
    this.records[`${service}.${domain}`] = { a: [url.host], srvPort: url.port };
  }

  queries(): number {
    return this.server.queries();
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/**
 * A domain (cluster) of upstream's sandbox builder: a registry (loopback tcp) whose interdomain
 * names go to the domain's nsmgr-proxy, a registry-proxy-dns, the nsmgr-proxy, `nodes` nodes
 * (nsmgr + forwarder), and the DNS records other domains find the registry and the proxy by.
 * Without proxies (a floating registry's domain) it is a registry alone. Each domain is its own
 * sandbox (own temp dir, channels, leak check); node names start with the domain's name.
 */
export class Domain {
  private constructor(
    readonly name: string,
    readonly sandbox: Sandbox,
    readonly mesh: Mesh,
    readonly registryProxyDns: SandboxNode<ServedRegistryProxyDns> | undefined,
    readonly nsmgrProxy: SandboxNode<ServedNsmgrProxy> | undefined,
  ) {}

  static async build(name: string, dns: DomainDns, options: { nodes?: number; proxies?: boolean } = {}): Promise<Domain> {
    const sandbox = await Sandbox.create();
    const s = sandbox;
    const proxies = options.proxies ?? true;
    const proxyUrl = proxies ? tcpUrl('127.0.0.1', await freePort()) : undefined;
    const registryProxy = proxies
      ? await s.node<ServedRegistryProxyDns>(
          `${name}-registry-proxy-dns`,
          () => {
            const pool = s.newPool(`${name}-registry-proxy-dns`);
            return new ServedRegistryProxyDns(registryProxyDns({ token: s.token(`${name}-registry-proxy-dns`), resolver: dns.resolver, pool, dialTimeout: s.dialTimeout, scheduler: s.scheduler }), pool);
          },
          { tcp: true },
        )
      : undefined;
    const registry = await s.registry(`${name}-registry`, { tcp: true, ...(proxyUrl ? { proxyRegistryUrl: proxyUrl } : {}) });
    const proxy =
      proxyUrl && registryProxy
        ? await s.node<ServedNsmgrProxy>(
            `${name}-nsmgr-proxy`,
            (n) => {
              const registryPool = s.newPool(`${name}-nsmgr-proxy`);
              return new ServedNsmgrProxy(
                nsmgrProxy({
                  name: `${name}-nsmgr-proxy`,
                  url: n.url,
                  registryUrl: registry.url,
                  registryProxyUrl: registryProxy.url,
                  pool: s.poolFor(`${name}-nsmgr-proxy`),
                  registryPool,
                  token: s.token(`${name}-nsmgr-proxy`),
                  dialTimeout: s.dialTimeout,
                  inodeUrlOf: inodeUrlOfFile,
                  scheduler: s.scheduler,
                }),
                registryPool,
              );
            },
            { url: proxyUrl },
          )
        : undefined;
    const mesh = await Mesh.build(sandbox, { registry, nodes: options.nodes ?? 1, prefix: `${name}-` });
    dns.add(name, DEFAULT_REGISTRY_SERVICE, registry.url);
    if (proxy) dns.add(name, DEFAULT_NSMGR_PROXY_SERVICE, proxy.url);
    return new Domain(name, sandbox, mesh, registryProxy, proxy);
  }

  get registry(): SandboxNode<ServedRegistry> {
    return this.mesh.registry;
  }

  /** Registers a network service straight into the domain's registry (upstream NewNSRegistryClient); services do not expire. */
  async registerService(name: string): Promise<void> {
    const r = this.sandbox.registryClient(this.registry.url, { track: false });
    await firstValueFrom(r.ns.register(NetworkService.fromPartial({ name }), Context.background.withDeadline(Date.now() + 5000)));
    r.dispose();
  }

  /** A client of the domain's first node. */
  nsc(name = `${this.name}-nsc`, options: Parameters<Sandbox['client']>[2] = {}): SandboxClient {
    return this.sandbox.client(name, (this.mesh.nodes[0] as MeshNode).nsmgr.url, options);
  }

  cleanup(): Promise<void> {
    return this.sandbox.cleanup();
  }
}


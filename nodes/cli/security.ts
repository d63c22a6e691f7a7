import { monitorServiceConnection, resolvePolicies } from '../../operators/authorize/policies.js';
import { defaultRegistryClientPolicies } from '../../operators/authorize/authorizeRegistryClient.js';
import { unsignedTokenGenerator, type TokenGenerator } from '../../operators/tools/token.js';
import { ChannelPool, type ChannelPoolOptions } from '../../streams/grpc/channelPool.js';
import type { X509Source } from '../../streams/spiffe/svid.js';
import { GrpcServer } from '../../streams/grpc/server.js';
import { spiffeTokenGenerator } from '../../streams/spiffe/token.js';
import { defaultEndpointSocket, SPIFFE_ENDPOINT_SOCKET, workloadApiSource } from '../../streams/spiffe/workloadApi.js';
import type { RunContext } from './component.js';
import { bool, InvalidValue, splitList, url, variable, type NsmUrl, type Var } from './config.js';

/** The variables of every daemon that speaks gRPC. */
export const securitySpec = {
  insecure: bool('NSM_INSECURE', 'false', 'Plaintext gRPC, unsigned tokens, no authorization (testing only; warned about at start)'),
  spiffeEndpointSocket: url(SPIFFE_ENDPOINT_SOCKET, defaultEndpointSocket, 'SPIFFE Workload API socket to get this process’s X.509-SVID from (SPIRE agent or nsm-rx identity)'),
};

/**
 * A list of policy files as upstream's NSM_*_POLICIES name them (patterns over
 * etc/nsm/opa/…/*.rego); `only`: the policies that apply there (others are refused by name).
 */
export function policies(env: string, def: string, description: string, only?: readonly string[]): Var<string[]> {
  return variable({
    env,
    def,
    description,
    kind: 'policy list',
    expected: only ? `empty or ${only.join(', ')}` : 'comma-separated policy paths such as etc/nsm/opa/common/.*.rego',
    parse: (s) => {
      let files: string[];
      try {
        files = resolvePolicies(splitList(s));
      } catch (e) {
        throw new InvalidValue(e instanceof Error ? e.message : String(e));
      }
      const misplaced = files.find((f) => only && !only.includes(f));
      if (misplaced !== undefined) throw new InvalidValue(`${misplaced} does not apply here`);
      return files;
    },
    zero: () => [],
  });
}

/**
 * NSM_MONITOR_POLICIES (nsm-rx's): upstream's nsmgr and endpoints serve MonitorConnections to
 * any caller (what its dashboard backend relies on, with an empty selector); naming
 * service_connection limits a caller to the connections it Requested itself.
 */
export const monitorPolicies = policies(
  'NSM_MONITOR_POLICIES',
  '',
  `Policies a MonitorConnections caller must pass: empty lets any caller watch every connection, as upstream; ${monitorServiceConnection} shows a caller only connections it Requested`,
  [monitorServiceConnection],
);

/** NSM_REGISTRY_CLIENT_POLICIES (nsmgr, NSE, forwarders): upstream's checks of every registry answer. */
export const registryClientPolicies = policies('NSM_REGISTRY_CLIENT_POLICIES', defaultRegistryClientPolicies, 'Policies every registry answer must pass');

/** What a daemon's gRPC needs: credentials both ways, the token it signs, which policies apply. */
export interface Security {
  readonly secure: boolean;
  readonly source: X509Source | undefined;
  /** This process's tokens (own path segment, and every outgoing call). */
  readonly token: TokenGenerator;
  /** A channel pool calling with this identity and token, its calls counted in the daemon's metrics. */
  pool(options?: Pick<ChannelPoolOptions, 'reconnectBackoff' | 'idleMs'>): ChannelPool;
  /** A gRPC server with these credentials, its calls counted in the daemon's metrics. */
  server(): GrpcServer;
  /** The policies to enforce: none when insecure (there is no TLS identity to check). */
  enforce(list: readonly string[]): readonly string[];
  stop(): void;
}

const waitingEvery = 5;

/**
 * Starts a daemon's security: unless NSM_INSECURE, waits for its X.509-SVID from the Workload API
 * (as upstream does, however long the agent takes; saying why every few tries) and keeps it
 * rotating; mTLS credentials and ES256 tokens come from it.
 */
export async function startSecurity(
  config: { insecure: boolean; spiffeEndpointSocket: NsmUrl; maxTokenLifetime: number; name?: string },
  ctx: RunContext,
): Promise<Security> {
  const now = () => Date.now();
  const observe = ctx.metrics?.grpcClient;
  const tracing = ctx.tracing ? { tracing: ctx.tracing } : {};
  const served = { ...(ctx.metrics ? { observe: ctx.metrics.grpcServer } : {}), ...tracing };
  if (config.insecure) {
    ctx.log.warn('NSM_INSECURE=true: plaintext gRPC, unsigned tokens and no authorization — never run like this outside a test');
    const token = unsignedTokenGenerator(config.name ?? 'nsm-rx', config.maxTokenLifetime, now);
    return {
      secure: false,
      source: undefined,
      token,
      pool: (options = {}) => new ChannelPool({ ...options, token, ...(observe ? { observe } : {}), ...tracing }),
      server: () => new GrpcServer(served),
      enforce: () => [],
      stop: () => undefined,
    };
  }
  let failures = 0;
  const { source, stop } = workloadApiSource(config.spiffeEndpointSocket, {
    onError: (e) => {
      if (failures++ % waitingEvery === 0) ctx.log.warn('waiting for an X.509-SVID', { socket: config.spiffeEndpointSocket.href, error: e instanceof Error ? e.message : String(e) });
    },
  });
  const aborted = new Promise<never>((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('stopped while waiting for an X.509-SVID')), { once: true }));
  try {
    const first = await Promise.race([source.ready(), aborted]);
    ctx.log.info('identity', { spiffeId: first.svid.id.href, expires: new Date(first.svid.notAfter).toISOString(), trustDomains: [...first.bundles.keys()] });
  } catch (e) {
    stop();
    throw e;
  }
  const token = spiffeTokenGenerator(source, config.maxTokenLifetime, now);
  return {
    secure: true,
    source,
    token,
    pool: (options = {}) => new ChannelPool({ ...options, source, token, ...(observe ? { observe } : {}), ...tracing }),
    server: () => new GrpcServer({ source, ...served }),
    enforce: (list) => list,
    stop,
  };
}

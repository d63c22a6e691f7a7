import { policies, securitySpec, startSecurity } from '../cli/security.js';
import { asyncScheduler, firstValueFrom, lastValueFrom } from 'rxjs';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../../operators/core/context.js';
import { parseBracketGroups } from '../../operators/networkservice/point2pointIpam.js';
import { parseNsUrl, type NetworkServiceUrl } from '../../operators/tools/nsurl.js';
import { ownNetnsUrl } from '../../dataplane/kernel/netns.js';
import { nscChain } from './chain.js';
import { adopting, monitorConnections } from './adopt.js';
import { localDnsAddress, localDnsResolvConf, startLocalDns } from './localDns.js';
import { defineComponent } from '../cli/component.js';
import { bool, duration, list, str, url, variable } from '../cli/config.js';

/** What upstream's authorize.NewClient() applies when given no policies: common + client. */
export const defaultClientPolicies = 'etc/nsm/opa/common/.*.rego,etc/nsm/opa/client/.*.rego';

const networkServices = (env: string, description: string) =>
  variable({
    env,
    def: '',
    description,
    kind: 'ns urls',
    expected: 'comma-separated mechanism://network-service[@domain]/interface?label=value, e.g. kernel://icmp-responder/nsm-1',
    parse: (s) => (s.trim() === '' ? [] : s.split(',').map((entry) => parseNsUrl(entry))),
    zero: () => [],
  });

export const nscSpec = {
  name: str('NSM_NAME', 'nsc', 'Name of the client; connection i has id <NSM_NAME>-<i>'),
  connectTo: url('NSM_CONNECT_TO', 'unix:///var/lib/networkservicemesh/nsm.io.sock', 'The nsmgr to request from'),
  dialTimeout: duration('NSM_DIAL_TIMEOUT', '5s', 'Dial timeout toward the nsmgr'),
  requestTimeout: duration('NSM_REQUEST_TIMEOUT', '15s', 'Budget of each Request try'),
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of the tokens this client issues; it refreshes at 20% of it'),
  // Upstream cmd-nsc has no variable: it always applies authorize.NewClient()'s defaults (these).
  clientPolicies: policies('NSM_CLIENT_POLICIES', defaultClientPolicies, 'Policies every returned connection must pass (upstream authorize.NewClient() defaults; empty: none)'),
  ...securitySpec,
  // Upstream: a []string documented as key1=val1,key2=val2 and never read; any list is accepted.
  labels: list('NSM_LABELS', '', 'Client labels key1=val1,key2=val2: accepted, not used (as upstream; the NS URL query sets connection labels)'),
  mechanism: str('NSM_MECHANISM', 'kernel', 'Parsed for compatibility (the URL scheme picks the mechanism)'),
  networkServices: networkServices('NSM_NETWORK_SERVICES', 'Network services to connect to'),
  awarenessGroups: variable({
    env: 'NSM_AWARENESS_GROUPS',
    def: '',
    description: 'Groups of NS URLs whose connections may share addresses: [url1,url2],[url3]',
    kind: 'url groups',
    expected: 'groups in brackets such as [kernel://ns1/nsm-1?color=red,kernel://ns2/nsm-2]',
    parse: (s) => parseBracketGroups(s, (item) => item),
    zero: () => [],
  }),
  livenessCheckEnabled: bool('NSM_LIVENESS_CHECK_ENABLED', 'true', 'Ping over each connection from this netns; no answer → heal by reselect (turn off with a forwarder that has no datapath)'),
  livenessCheckInterval: duration('NSM_LIVENESS_CHECK_INTERVAL', '200ms', 'Interval of datapath probes'),
  livenessCheckTimeout: duration('NSM_LIVENESS_CHECK_TIMEOUT', '1s', 'Timeout of one datapath probe'),
  localDnsServerEnabled: bool('NSM_LOCAL_DNS_SERVER_ENABLED', 'true', 'Local DNS server: a proxy to the connections’ DNS servers, the resolver of this netns pointed at it'),
  localDnsServerAddress: localDnsAddress,
  localDnsResolvConf,
};

/**
 * The request for `<name>-<i>` from one NSM_NETWORK_SERVICES entry; a KERNEL mechanism names
 * this process's netns (`inode://dev/ino`, what upstream's sendfd turns its netns file into).
 */
export function requestFor(name: string, i: number, ns: NetworkServiceUrl): NetworkServiceRequest {
  const mechanism = ns.mechanism.type === 'KERNEL' ? { ...ns.mechanism, parameters: { ...ns.mechanism.parameters, inodeURL: ownNetnsUrl() } } : ns.mechanism;
  return NetworkServiceRequest.fromPartial({
    connection: { id: `${name}-${i}`, networkService: ns.networkService, labels: ns.labels },
    mechanismPreferences: [mechanism],
  });
}

/** One line per connection on stdout, for people and scripts. */
export const report = (event: string, conn: Connection): void => {
  process.stdout.write(`${JSON.stringify({ event, connection: Connection.toJSON(conn) })}\n`);
};

/**
 * `nsm-rx nsc` (upstream cmd-nsc): requests every NSM_NETWORK_SERVICES entry with id
 * `<NSM_NAME>-<i>` — adopting the connection of that id the nsmgr already has (nsc-init's,
 * or its own before a restart; see adopting) — retrying until it succeeds, then keeps the
 * connections (refresh, heal, upstream refresh) until it is stopped, when it closes them; runs
 * the local DNS server for them (see startLocalDns). Prints each connection as a JSON line on
 * stdout.
 */
export const component = defineComponent({
  name: 'nsc',
  summary: 'a client keeping connections to network services (upstream cmd-nsc)',
  spec: nscSpec,
  async run(config, ctx) {
    const scheduler = asyncScheduler;
    const security = await startSecurity(config, ctx);
    const pool = security.pool();
    // Before the connections' cleanup is registered, so it runs after they are closed.
    const dns = config.localDnsServerEnabled ? await startLocalDns(config, ctx) : undefined;
    const { chain: nsc, retrying, liveness } = nscChain(config, ctx, security, pool, true, dns);
    const connections: Connection[] = [];
    ctx.lifecycle.onShutdown('nsc', async () => {
      for (const conn of connections) {
        await lastValueFrom(nsc.handler.close(conn, Context.background.withDeadline(scheduler.now() + config.requestTimeout)), { defaultValue: undefined }).catch(
          (e: unknown) => ctx.log.warn('close failed', { id: conn.id, error: String(e) }),
        );
        report('closed', conn);
      }
      nsc.state.metadata.dispose();
      pool.closeAll();
      security.stop();
    });
    for (const [i, ns] of config.networkServices.entries()) {
      const fresh = requestFor(config.name, i, ns);
      const monitored = await monitorConnections(pool, config.connectTo, fresh.connection?.id ?? '', config.requestTimeout);
      try {
        const conn = await firstValueFrom(retrying(adopting(nsc.handler, monitored.current, liveness, ctx.log)).request(fresh, Context.background));
        connections.push(conn);
        report('connected', conn);
      } finally {
        monitored.stop();
      }
    }
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  },
});

import { of, type Observable } from 'rxjs';
import { distinctUntilChanged, scan, share, startWith, switchMap } from 'rxjs/operators';
import { NetworkServiceEndpoint, type NetworkServiceEndpointResponse } from '../../proto/gen/registry.js';
import { registryClient } from '../../operators/chains/registryClient.js';
import { Context } from '../../operators/core/context.js';
import type { ConnectionEvent } from '../../proto/gen/connection.js';
import { connectionsView, type MeshView } from '../../streams/connectionsView.js';
import { liveFind } from '../../streams/liveFind.js';
import { meshGraph, type MeshGraph } from '../../streams/meshGraph.js';
import { defineComponent } from '../cli/component.js';
import { duration, optional, str, url, urlList } from '../cli/config.js';
import { securitySpec, startSecurity } from '../cli/security.js';
import { nsmgrMonitor } from '../connections/monitor.js';
import { serveDashboard } from './server.js';

const spec = {
  registryUrl: optional(url('NSM_REGISTRY_URL', 'tcp://localhost:5001', 'The registry whose forwarders and endpoints to show; the nsmgrs its forwarders registered through are watched too (empty: none)')),
  connectTo: urlList('NSM_CONNECT_TO', '', 'More nsmgrs to watch (comma-separated), beside those found through the registry'),
  listenOn: str('NSM_DASHBOARD_LISTEN_ON', 'localhost:3001', 'Where to serve the dashboard, host:port (plain HTTP, read-only: keep it on localhost or behind a proxy)'),
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of the tokens its calls carry'),
  ...securitySpec,
};

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The registry's every NSE as a live view (name → NSE). */
function registeredNses(find: (q: { networkServiceEndpoint: NetworkServiceEndpoint; watch: boolean }, ctx: Context) => Observable<NetworkServiceEndpointResponse>) {
  return liveFind(
    find,
    (watch) => ({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({}), watch }),
    (r: NetworkServiceEndpointResponse) => r.networkServiceEndpoint && { item: r.networkServiceEndpoint, deleted: r.deleted },
    Context.background,
  );
}

/**
 * The mesh as the dashboard shows it: the registry's NSEs, and the connections of the nsmgrs in
 * `connectTo` and of those its forwarders registered through (a forwarder's URL in the registry
 * is its nsmgr's, as upstream's dashboard-backend finds them). A newly found nsmgr starts the
 * connection view anew (its rates and heal history).
 */
function dashboardGraph(registered: Observable<ReadonlyMap<string, NetworkServiceEndpoint>>, connectTo: readonly string[], monitor: (url: string) => Observable<ConnectionEvent>): Observable<MeshGraph> {
  const nses = registered.pipe(share());
  // Once seen, an nsmgr stays watched (shown down when it goes): its forwarder unregistering
  // (killed, or replaced) must not end the history of its connections.
  const nsmgrs = nses.pipe(
    scan((seen, view) => [...new Set([...seen, ...[...view.values()].filter((n) => n.networkServiceNames.includes('forwarder')).map((n) => n.url)])].sort(), [...connectTo].sort()),
    startWith([...connectTo].sort()),
    distinctUntilChanged(sameList),
  );
  const views = nsmgrs.pipe(switchMap((urls) => connectionsView(urls, monitor).pipe(startWith<MeshView>({ at: 0, sources: urls.map((u) => ({ url: u, up: false })), connections: [] }))));
  return meshGraph(views, nses);
}

/**
 * `nsm-rx dashboard`: the mesh in a browser — clients, nsmgrs, forwarders and endpoints as a
 * graph with each connection's hops, state and traffic, live from MonitorConnections and a
 * registry Find watch; upstream dashboard-backend's `/nodes` and `/edges` for its UI.
 */
export const component = defineComponent({
  name: 'dashboard',
  summary: 'the mesh as a live graph in a browser (MonitorConnections and registry watches; upstream dashboard-backend REST)',
  spec,
  async run(config, ctx) {
    const security = await startSecurity({ ...config, name: 'dashboard' }, ctx);
    const pool = security.pool();
    const registry = config.registryUrl ? registryClient({ pool, url: config.registryUrl, dialTimeout: 5000 }) : undefined;
    const registered = registry ? registeredNses(registry.nse.find) : of(new Map<string, NetworkServiceEndpoint>());
    const server = await serveDashboard(config.listenOn, dashboardGraph(registered, config.connectTo.map((u) => u.href), nsmgrMonitor(pool)));
    ctx.log.info('serving the dashboard', { url: server.url, registry: config.registryUrl?.href ?? 'none', nsmgrs: config.connectTo.map((u) => u.href) });
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    await server.close();
    registry?.dispose();
    pool.closeAll();
    security.stop();
  },
});

import { createServer, type ServerResponse } from 'node:http';
import { firstValueFrom, ReplaySubject, type Observable } from 'rxjs';
import { auditTime } from 'rxjs/operators';
import type { MeshGraph } from '../../streams/meshGraph.js';
import { hostPortOf, parseListenOn } from '../../streams/metrics/prometheusServer.js';
import { PAGE } from './page.js';
import { upstreamModel } from './upstreamModel.js';

export interface DashboardServer {
  /** e.g. `http://127.0.0.1:3001/` */
  readonly url: string;
  close(): Promise<void>;
}

/** Pushes to a page at most this often, ms: a burst of events is drawn once. */
const FRAME_MS = 200;

/** Upstream's UI, served apart on :3000 (deployments-k8s), reads the backend from the browser. */
const UPSTREAM_UI_ORIGIN = 'http://localhost:3000';

const json = (res: ServerResponse, body: unknown, headers: Record<string, string> = {}) =>
  void res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

/**
 * The dashboard on `listenOn` (`host:port`), plain HTTP, read-only:
 * - `/` the page; `/events` the graph as server-sent events, the latest at once and then each
 *   change; `/graph` the latest as JSON;
 * - `/nodes` and `/edges`: upstream cmd-dashboard-backend's REST model, for its UI.
 * `graph` is followed from start to close (its monitor and Find calls stay open), shared by
 * every page; a page that goes away stops following it.
 */
export async function serveDashboard(listenOn: string, graph: Observable<MeshGraph>): Promise<DashboardServer> {
  const [host, port] = parseListenOn(listenOn, 'NSM_DASHBOARD_LISTEN_ON');
  const latest = new ReplaySubject<MeshGraph>(1);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://dashboard').pathname;
    if (req.method !== 'GET') return void res.writeHead(405, { allow: 'GET' }).end();
    switch (path) {
      case '/':
        return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      case '/events': {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        const pushes = latest.pipe(auditTime(FRAME_MS)).subscribe((g) => res.write(`data: ${JSON.stringify(g)}\n\n`));
        return void req.once('close', () => pushes.unsubscribe());
      }
      case '/graph':
        return void firstValueFrom(latest).then((g) => json(res, g));
      case '/nodes':
      case '/edges':
        return void firstValueFrom(latest).then((g) => json(res, upstreamModel(g)[path === '/nodes' ? 'nodes' : 'edges'], { 'access-control-allow-origin': UPSTREAM_UI_ORIGIN }));
      default:
        return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: / /events /graph /nodes /edges\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`dashboard cannot listen on ${listenOn}: ${e.message}`)));
    server.listen(port, host, () => resolve());
  });
  // Followed only once serving: a failed listen leaves no monitor or Find call open.
  const following = graph.subscribe(latest);
  return {
    url: `http://${hostPortOf(server)}/`,
    close: () =>
      new Promise<void>((resolve) => {
        following.unsubscribe();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

import { map } from 'rxjs/operators';
import { MonitorConnectionService } from '../../proto/gen/connection.js';
import { NetworkServiceService } from '../../proto/gen/networkservice.js';
import type { NetworkServiceHandler } from '../../operators/core/networkservice.js';
import type { ConnectionMonitor, MonitorConnections } from '../monitorConnections.js';
import type { GrpcServer } from './server.js';

/**
 * Serves a NetworkService chain and its MonitorConnection source on `server`. Any caller may
 * watch, as upstream's nsmgr and endpoints allow; with `guard` (the node injects
 * `authorizeMonitor(owners)` when NSM_MONITOR_POLICIES names service_connection) a monitor caller
 * sees only what the guard lets through. Injected so this source imports no element.
 */
export function serveNetworkService(
  server: GrpcServer,
  handler: NetworkServiceHandler,
  monitor: ConnectionMonitor,
  guard?: (monitor: MonitorConnections) => MonitorConnections,
): GrpcServer {
  const events: MonitorConnections = (selector) => monitor.monitorConnections(selector);
  const monitorConnections = guard ? guard(events) : events;
  return server
    .serve('networkservice.NetworkService', NetworkServiceService, {
      request: (request, ctx) => handler.request(request, ctx),
      close: (conn, ctx) => handler.close(conn, ctx).pipe(map(() => ({}))),
    })
    .serve('connection.MonitorConnection', MonitorConnectionService, {
      monitorConnections: (selector, ctx) => monitorConnections(selector, ctx),
    });
}

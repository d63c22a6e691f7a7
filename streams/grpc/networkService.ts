import { map } from 'rxjs/operators';
import { MonitorConnectionService } from '../../proto/gen/connection.js';
import { NetworkServiceService } from '../../proto/gen/networkservice.js';
import type { NetworkServiceHandler } from '../../operators/core/networkservice.js';
import type { ConnectionMonitor } from '../monitorConnections.js';
import { authorizeMonitor } from '../../operators/authorize/authorizeMonitor.js';
import type { SpiffeIdConnections } from '../../operators/authorize/connections.js';
import type { GrpcServer } from './server.js';

/**
 * Serves a NetworkService chain and its MonitorConnection source on `server`. Any caller may
 * watch, as upstream's nsmgr and endpoints allow; with `owners` (NSM_MONITOR_POLICIES naming
 * service_connection) a monitor caller sees only connections it Requested.
 */
export function serveNetworkService(server: GrpcServer, handler: NetworkServiceHandler, monitor: ConnectionMonitor, owners?: SpiffeIdConnections): GrpcServer {
  const events = (selector: Parameters<ConnectionMonitor['monitorConnections']>[0]) => monitor.monitorConnections(selector);
  const monitorConnections = owners ? authorizeMonitor(owners, events) : events;
  return server
    .serve('networkservice.NetworkService', NetworkServiceService, {
      request: (request, ctx) => handler.request(request, ctx),
      close: (conn, ctx) => handler.close(conn, ctx).pipe(map(() => ({}))),
    })
    .serve('connection.MonitorConnection', MonitorConnectionService, {
      monitorConnections: (selector, ctx) => monitorConnections(selector, ctx),
    });
}

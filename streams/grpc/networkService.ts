import { map } from 'rxjs/operators';
import { MonitorConnectionService } from '../../proto/gen/connection.js';
import { NetworkServiceService } from '../../proto/gen/networkservice.js';
import type { NetworkServiceHandler } from '../../operators/core/networkservice.js';
import type { ConnectionMonitor } from '../monitorConnections.js';
import type { GrpcServer } from './server.js';

/** Serves a NetworkService chain and its MonitorConnection source on `server`. */
export function serveNetworkService(server: GrpcServer, handler: NetworkServiceHandler, monitor: ConnectionMonitor): GrpcServer {
  return server
    .serve('networkservice.NetworkService', NetworkServiceService, {
      request: (request, ctx) => handler.request(request, ctx),
      close: (conn, ctx) => handler.close(conn, ctx).pipe(map(() => ({}))),
    })
    .serve('connection.MonitorConnection', MonitorConnectionService, {
      monitorConnections: (selector) => monitor.monitorConnections(selector),
    });
}

import { defer, throwError } from 'rxjs';
import { permissionDenied } from '../core/errors.js';
import { incomingCallKey } from '../../streams/grpc/serve.js';
import type { MonitorConnections } from '../../streams/monitorConnections.js';
import type { SpiffeIdConnections } from './connections.js';

/**
 * `authorizeMonitor(connections)` (upstream authmonitor with service_connection): a
 * MonitorConnections caller must own at least one connection its selector names — it Requested
 * it, as its TLS identity. Anyone else gets PERMISSION_DENIED and no event at all.
 */
export function authorizeMonitor(connections: SpiffeIdConnections): (monitor: MonitorConnections) => MonitorConnections {
  return (monitor) => (selector, ctx) =>
    defer(() => {
      const caller = ctx.get(incomingCallKey)?.identity;
      const ids = selector.pathSegments.map((s) => s.id).filter((id) => id !== '');
      if (caller === undefined) return throwError(() => permissionDenied('service_connection: the monitor caller has no TLS identity'));
      if (ids.length === 0) return throwError(() => permissionDenied(`service_connection: ${caller.id} must select the connections it owns by path segment id`));
      if (!connections.owns(caller.id, ids)) return throwError(() => permissionDenied(`service_connection: ${caller.id} owns none of the connections ${ids.join(', ')}`));
      return monitor(selector, ctx);
    });
}

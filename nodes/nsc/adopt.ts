import { firstValueFrom, timeout as rxTimeout } from 'rxjs';
import { MonitorConnectionService, type Connection } from '../../proto/gen/connection.js';
import type { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { cloneConnection } from '../../operators/core/clone.js';
import { Context } from '../../operators/core/context.js';
import type { NsmUrl } from '../../operators/tools/nsmUrl.js';
import { serverStreamCall } from '../../streams/grpc/call.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';

/**
 * The connection `<name>-<i>` the nsmgr already holds for this client (made by nsc-init, or
 * by this nsc before a restart), from the nsmgr's MonitorConnections: its first event lists
 * the connections whose path starts with our segment. Undefined when there is none or the
 * nsmgr does not answer within `waitMs`.
 */
export async function existingConnection(pool: ChannelPool, url: NsmUrl, name: string, id: string, waitMs: number): Promise<Connection | undefined> {
  const channel = pool.acquire(url);
  try {
    const selector = { pathSegments: [{ name, id, token: '', expires: undefined, metrics: {} }], networkServices: [] };
    const event = await firstValueFrom(serverStreamCall(channel, MonitorConnectionService.monitorConnections, selector, Context.background).pipe(rxTimeout(waitMs)));
    return Object.values(event.connections).find((c) => c.path?.pathSegments[0]?.id === id);
  } catch {
    return undefined;
  } finally {
    channel.release();
  }
}

/**
 * Turns a fresh request into the refresh of `existing` (upstream cmd-nsc: the same path and
 * ids), so every hop — and the NSE's IPAM — keeps what it has instead of making it anew.
 */
export function adopt(request: NetworkServiceRequest, existing: Connection): NetworkServiceRequest {
  const conn = cloneConnection(existing);
  const own = conn.path?.pathSegments[0];
  if (conn.path === undefined || own === undefined) return request;
  conn.path.index = 0;
  conn.id = own.id;
  conn.labels = request.connection?.labels ?? conn.labels;
  return { ...request, connection: conn };
}

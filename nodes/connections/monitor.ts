import { defer, type Observable } from 'rxjs';
import { finalize } from 'rxjs/operators';
import { MonitorConnectionService, type ConnectionEvent } from '../../proto/gen/connection.js';
import { Context } from '../../operators/core/context.js';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import type { ChannelPool } from '../../streams/grpc/channelPool.js';
import { serverStreamCall } from '../../streams/grpc/call.js';

/** MonitorConnections of the nsmgr at `url` (every connection it holds), on a channel of `pool` released when unsubscribed. */
export const nsmgrMonitor =
  (pool: ChannelPool) =>
  (url: string): Observable<ConnectionEvent> =>
    defer(() => {
      const channel = pool.acquire(parseNsmUrl(url));
      return serverStreamCall(channel, MonitorConnectionService.monitorConnections, { pathSegments: [], networkServices: [] }, Context.background).pipe(finalize(() => channel.release()));
    });

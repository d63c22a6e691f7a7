import { throwError } from 'rxjs';
import type { Connection } from '../../proto/gen/connection.js';
import type { Context } from '../core/context.js';
import { invalidArgument } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { msToTimestamp, prevSegment } from '../core/path.js';
import { tokenFromMetadata, type TokenGenerator } from '../tools/token.js';
import { incomingCallKey } from '../../streams/grpc/serve.js';

/**
 * `updateToken(generate)` (server side): the caller's token (gRPC metadata `nsm-client-token`,
 * `nsm-client-token-expires`) goes into the previous segment, this hop's own token into its
 * segment. Expiries drive refresh (client) and timeout (server).
 */
export function updateToken(generate: TokenGenerator): NetworkServiceElement {
  const apply = (conn: Connection, ctx: Context): Error | undefined => {
    const path = conn.path;
    const current = path?.pathSegments[path.index];
    if (path === undefined || current === undefined) {
      return invalidArgument(`path.index ${path?.index ?? 0} is out of range for ${path?.pathSegments.length ?? 0} path segments`);
    }
    const incoming = ctx.get(incomingCallKey);
    const caller = incoming ? tokenFromMetadata(incoming.metadata) : undefined;
    const prev = prevSegment(conn);
    if (prev && caller) {
      prev.token = caller.token;
      prev.expires = msToTimestamp(caller.expires);
    }
    const own = generate(incoming?.identity);
    current.token = own.token;
    current.expires = msToTimestamp(own.expires);
    return undefined;
  };
  return {
    request: (request, ctx, next) => {
      const err = apply(request.connection as Connection, ctx);
      return err ? throwError(() => err) : next.request(request, ctx);
    },
    close: (conn, ctx, next) => {
      const err = apply(conn, ctx);
      return err ? throwError(() => err) : next.close(conn, ctx);
    },
  };
}

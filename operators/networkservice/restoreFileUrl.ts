import { defer, finalize, map } from 'rxjs';
import type { Connection } from '../../proto/gen/connection.js';
import type { NetworkServiceElement } from '../core/networkservice.js';

/** The mechanism's `inodeURL` swapped for `to` when it is `from` (a copy; the rest kept). */
function swapped(conn: Connection | undefined, from: string, to: string): void {
  const m = conn?.mechanism;
  if (m?.parameters['inodeURL'] === from) m.parameters = { ...m.parameters, inodeURL: to };
}

/**
 * `restoreFileUrl` (client): keeps the `file://` netns URL this client sent where an upstream
 * peer answers with the same namespace as `inode://dev/ino`. Upstream's sendfd turns file URLs
 * into inode URLs with the fd passed alongside; sent such a URL again (refresh, Close, or a
 * connection updated from a monitor event), its recvfd waits for an fd we cannot pass and times
 * out. So the answer is swapped back, as upstream's sendfd client does on its way back, and a
 * later Request or Close carrying that inode URL for the connection is swapped before it goes.
 * `inodeUrlOf` answers a file URL's `inode://dev/ino` (undefined when it cannot be opened).
 *
 * ```
 * sent {inodeURL: file:///proc/42/ns/net} ──▶ answered {inodeURL: inode://4/4026532245}
 *                                        ──▶ caller sees {inodeURL: file:///proc/42/ns/net}
 * Close {inodeURL: inode://4/4026532245}  ──▶ next sees {inodeURL: file:///proc/42/ns/net}
 * ```
 */
export function restoreFileUrl(inodeUrlOf: (fileUrl: string) => string | undefined): NetworkServiceElement {
  /** Per connection id: the inode URL a peer answered, and the file URL we had sent for it. */
  const answered = new Map<string, { inode: string; file: string }>();
  return {
    request: (request, ctx, next) =>
      defer(() => {
        const id = request.connection?.id ?? '';
        const known = answered.get(id);
        if (known) swapped(request.connection, known.inode, known.file);
        const sent = [...request.mechanismPreferences, request.connection?.mechanism].map((m) => m?.parameters['inodeURL']).filter((u): u is string => u?.startsWith('file://') === true);
        return next.request(request, ctx).pipe(
          map((conn) => {
            const inode = conn.mechanism?.parameters['inodeURL'];
            if (!inode?.startsWith('inode://')) return conn;
            const file = sent.find((u) => inodeUrlOf(u) === inode);
            if (file === undefined) return conn;
            answered.set(conn.id, { inode, file });
            swapped(conn, inode, file);
            return conn;
          }),
        );
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        const known = answered.get(conn.id);
        if (known) swapped(conn, known.inode, known.file);
        return next.close(conn, ctx).pipe(finalize(() => answered.delete(conn.id)));
      }),
  };
}

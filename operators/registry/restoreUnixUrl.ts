import { defer, map } from 'rxjs';
import type { NSEElement } from '../core/registry.js';

/**
 * `restoreUnixUrl` (NSE registry, client side): keeps the `unix://` URL this client registered
 * where an upstream nsmgr answers with the same socket as `inode://dev/ino`. Upstream's registry
 * sendfd turns an answered unix URL into an inode URL with the socket's fd passed alongside;
 * registered again with it (refresh, heal), its recvfd waits for an fd we cannot pass, every
 * refresh fails and the registration expires. Upstream's sendfd client swaps it back the same
 * way. `inodeUrlOf` answers a socket path's `inode://dev/ino` (undefined when it is gone).
 *
 * ```
 * register {url: unix:///run/nse.sock} ──▶ answered {url: inode://64769/1234}
 *                                      ──▶ caller (begin, refresh) sees {url: unix:///run/nse.sock}
 * ```
 */
export function restoreUnixUrl(inodeUrlOf: (socketPath: string) => string | undefined): NSEElement {
  return {
    register: (nse, ctx, next) =>
      defer(() => {
        const sent = nse.url;
        return next.register(nse, ctx).pipe(
          map((answer) => (sent.startsWith('unix://') && answer.url.startsWith('inode://') && inodeUrlOf(sent.slice('unix://'.length)) === answer.url ? { ...answer, url: sent } : answer)),
        );
      }),
  };
}

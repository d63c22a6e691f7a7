import { ContextKey, type Context } from '../core/context.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import type { NsmUrl } from '../tools/nsmUrl.js';

export const clientUrlKey = new ContextKey<NsmUrl>('clientUrl');

/** The next hop's URL chosen for this call (by `clientUrl`, `discover`, `discoverForwarder`, …). */
export function clientUrlOf(ctx: Context): NsmUrl | undefined {
  return ctx.get(clientUrlKey);
}

/** `clientUrl(url)`: every call goes to this fixed next hop (an nsc's nsmgr, a passthrough's next). */
export function clientUrl(url: NsmUrl): NetworkServiceElement {
  return {
    request: (request, ctx, next) => next.request(request, ctx.with(clientUrlKey, url)),
    close: (conn, ctx, next) => next.close(conn, ctx.with(clientUrlKey, url)),
  };
}

import { asyncScheduler, defer, EMPTY, timer, type SchedulerLike } from 'rxjs';
import { switchMap, tap } from 'rxjs/operators';
import type { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { incomingCallKey } from '../../streams/grpc/serve.js';
import type { Context } from '../core/context.js';
import { msToTimestamp, timestampToMs } from '../core/path.js';
import type { NSEElement } from '../core/registry.js';
import { tokenFromMetadata } from '../tools/token.js';
import { registryEventFactoryOf } from './begin.js';
import { registryRefreshShare } from './refresh.js';

export interface ExpireOptions {
  /** Longest registration without a refresh, ms (upstream sandbox, nsmgr, memory registry: 1 min); 0 = no cap. */
  defaultPeriod?: number;
  scheduler?: SchedulerLike;
}

/** The caller's token expiry (scheduler ms) from the incoming gRPC metadata, if it sent one. */
function callerTokenExpiry(ctx: Context): number | undefined {
  const call = ctx.get(incomingCallKey);
  return call === undefined ? undefined : tokenFromMetadata(call.metadata)?.expires;
}

/**
 * `expire` (NSE registry, server side): a registration that is not refreshed in time is
 * unregistered by the registry itself.
 *
 * On Register, `expiration_time` becomes the earliest of the caller's token expiry, now +
 * `defaultPeriod` and the NSE's own `expiration_time`, and is written into the NSE. After the rest
 * of the chain accepted it (an earlier `expiration_time` in the answer wins), the registration's
 * loop in the registry begin unregisters it at `expiration − the Register's time budget`. A
 * re-Register (refresh) replaces the loop; an Unregister ends it; a failed re-Register keeps it.
 *
 * But never before 5/6 of the time left, halfway between the client's refresh (at 2/3 of it) and
 * the expiration: a budget near or above a short token lifetime (15 s with NSM_MAX_TOKEN_LIFETIME
 * 3 s) would otherwise unregister every registration right after it is made. (Upstream does then;
 * with a budget up to 1/6 of the time left both unregister at the same time.)
 *
 * ```
 * register (budget 1 s, default 1 min) --R----------------------------
 * unregister via begin                  ------------ 59 s -----------U
 *
 * register (budget 15 s, token 3 s)     --R----------------------------
 * unregister via begin                  ------- 2.5 s --------U          (5/6 · 3 s; upstream: at once)
 * ```
 */
export function nseExpire(options: ExpireOptions = {}): NSEElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const defaultPeriod = options.defaultPeriod ?? 60_000;
  return {
    register: (nse, ctx, next) =>
      defer(() => {
        const start = scheduler.now();
        const remaining = ctx.remaining(start);
        const budget = Number.isFinite(remaining) ? remaining : 0;
        let selected: number | undefined = callerTokenExpiry(ctx);
        if (defaultPeriod > 0 && (selected === undefined || start + defaultPeriod < selected)) selected = start + defaultPeriod;
        const own = nse.expirationTime === undefined ? undefined : timestampToMs(nse.expirationTime);
        const sent: NetworkServiceEndpoint =
          selected !== undefined && (own === undefined || selected < own) ? { ...nse, expirationTime: msToTimestamp(selected) } : nse;
        return next.register(sent, ctx).pipe(
          tap((answer) => {
            const factory = registryEventFactoryOf(ctx);
            if (factory === undefined) return;
            const answered = answer.expirationTime === undefined ? undefined : timestampToMs(answer.expirationTime);
            const expiry = answered !== undefined && (selected === undefined || answered < selected) ? answered : selected;
            if (expiry === undefined) return factory.loop('expire', EMPTY);
            const left = expiry - scheduler.now();
            const delay = Math.max(0, left - budget, (left * (1 + registryRefreshShare)) / 2);
            factory.loop('expire', timer(delay, scheduler).pipe(switchMap(() => factory.unregister())));
          }),
        );
      }),
  };
}

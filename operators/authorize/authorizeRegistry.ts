import { asyncScheduler, defer, throwError, type SchedulerLike } from 'rxjs';
import { tap } from 'rxjs/operators';
import type { Context } from '../core/context.js';
import { permissionDenied } from '../core/errors.js';
import type { RegistryElement } from '../core/registry.js';
import { tokenFromMetadata } from '../tools/token.js';
import { incomingCallKey } from '../../streams/grpc/serve.js';
import { checkPath, registryClientAllowed } from './policies.js';

/**
 * `authorizeRegistry(policies)` (registry servers, NS and NSE alike): Register and Unregister
 * pass only if
 * - the path policies allow the caller's token (nsm-client-token) as the segment before this
 *   registry, with the caller's TLS identity as the peer (valid, unexpired, signed by the caller);
 * - client_allowed, when listed: a name is free, or it was registered by this same SPIFFE ID —
 *   only the registrant may refresh or unregister it.
 * Find is open. Refusals are PERMISSION_DENIED naming the policy.
 *
 * ```
 * register ns-1 by A --R--> ok      register ns-1 by B --R--X client_allowed
 * ```
 */
export function authorizeRegistry<T extends { readonly name: string }, Q, R>(options: { policies: readonly string[]; scheduler?: SchedulerLike }): RegistryElement<T, Q, R> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const owners = new Map<string, string>();
  const clientAllowed = options.policies.includes(registryClientAllowed);
  const check = (item: T, ctx: Context): { caller: string | undefined; denied: Error | undefined } => {
    const call = ctx.get(incomingCallKey);
    const caller = call?.identity?.id;
    const token = call && tokenFromMetadata(call.metadata);
    const deny = (why: string) => ({ caller, denied: permissionDenied(`authorize: ${why}`) });
    const pathPolicies = options.policies.filter((p) => p !== registryClientAllowed);
    if (pathPolicies.length > 0) {
      if (token === undefined) return deny('the caller sent no nsm-client-token');
      const why = checkPath(pathPolicies, { segments: [{ name: caller ?? 'caller', id: '', token: token.token }], index: 1, peer: call?.identity, now: scheduler.now() });
      if (why !== undefined) return deny(why);
    }
    if (clientAllowed) {
      if (caller === undefined) return deny('client_allowed: the caller has no TLS identity');
      const owner = owners.get(item.name);
      if (owner !== undefined && owner !== caller) return deny(`client_allowed: "${item.name}" belongs to ${owner}, not ${caller}`);
    }
    return { caller, denied: undefined };
  };
  return {
    register: (item, ctx, next) =>
      defer(() => {
        const { caller, denied } = check(item, ctx);
        if (denied) return throwError(() => denied);
        return next.register(item, ctx).pipe(tap((registered) => clientAllowed && caller && owners.set(registered.name, caller)));
      }),
    unregister: (item, ctx, next) =>
      defer(() => {
        const { denied } = check(item, ctx);
        if (denied) return throwError(() => denied);
        return next.unregister(item, ctx).pipe(tap(() => owners.delete(item.name)));
      }),
  };
}

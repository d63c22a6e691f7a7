import { asyncScheduler, concat, defer, EMPTY, of, throwError, type SchedulerLike } from 'rxjs';
import { catchError, concatMap, ignoreElements } from 'rxjs/operators';
import type { Context } from '../core/context.js';
import { permissionDenied } from '../core/errors.js';
import type { PeerIdentity } from '../core/peer.js';
import type { RegistryElement } from '../core/registry.js';
import { registryServerKey } from '../registry/grpcClient.js';
import { registryPathOf, registryPathKey, type RegistryPath } from '../registry/grpcMetadata.js';
import { checkRegistry, RegistryOwners, type RegistryResource } from './authorizeRegistry.js';

/** Upstream's NSM_REGISTRY_CLIENT_POLICIES default (cmd-nsmgr, cmd-registry-*, cmd-nse-*, cmd-forwarder-*). */
export const defaultRegistryClientPolicies = 'etc/nsm/opa/common/.*.rego,etc/nsm/opa/registry/.*.rego,etc/nsm/opa/client/.*.rego';

/**
 * `authorizeRegistryClient(policies)` (registry clients, before the call goes out; upstream
 * registry authorize client): the answer to a Register or Unregister is accepted only if the
 * policies allow the whole registry path the server answered, with the server's TLS identity
 * as the peer (next_token_signed: the next hop signed its segment), and client_allowed over
 * the names this client registered. A refused Register of a name this client never held is
 * unregistered again; the call fails with PERMISSION_DENIED. No policies: everything passes.
 *
 * ```
 * register, answer path signed by the registry we dialed --R--> nse
 * register, answer path signed by another key            --R--X PERMISSION_DENIED (and an Unregister goes out)
 * ```
 */
export function authorizeRegistryClient<T extends RegistryResource, Q, R>(options: { policies: readonly string[]; scheduler?: SchedulerLike }): RegistryElement<T, Q, R> {
  const scheduler = options.scheduler ?? asyncScheduler;
  if (options.policies.length === 0) return {};
  const owners = new RegistryOwners();
  /** The call's context with a path the client below fills in, and where the server's identity lands. */
  const callContext = (ctx: Context) => {
    const path = registryPathOf(ctx);
    const server: { peer: PeerIdentity | undefined } = { peer: undefined };
    return { path, server, ctx: ctx.with(registryPathKey, path).with(registryServerKey, server) };
  };
  const denied = (name: string, path: RegistryPath, server: { peer: PeerIdentity | undefined }): Error | undefined => {
    const why = checkRegistry(options.policies, { name, path, owners, peer: server.peer, now: scheduler.now() });
    return why === undefined ? undefined : permissionDenied(`authorize registry client: ${why}`);
  };
  return {
    register: (item, ctx, next) =>
      defer(() => {
        const call = callContext(ctx);
        return next.register(item, call.ctx).pipe(
          concatMap((answer) => {
            const why = denied(answer.name, call.path, call.server);
            if (why === undefined) {
              owners.remember(answer, scheduler.now());
              return of(answer);
            }
            if (owners.has(answer.name, scheduler.now())) return throwError(() => why);
            return concat(
              defer(() => next.unregister(answer, call.ctx.withoutDeadline())).pipe(ignoreElements(), catchError(() => EMPTY)),
              throwError(() => why),
            );
          }),
        );
      }),
    unregister: (item, ctx, next) =>
      defer(() => {
        const call = callContext(ctx);
        return next.unregister(item, call.ctx).pipe(
          concatMap(() => {
            const why = denied(item.name, call.path, call.server);
            if (why) return throwError(() => why);
            owners.forget(item.name);
            return of(undefined);
          }),
        );
      }),
  };
}

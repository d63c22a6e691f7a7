import { asyncScheduler, defer, throwError, type SchedulerLike } from 'rxjs';
import { tap } from 'rxjs/operators';
import type { Timestamp } from '../../proto/gen/google/protobuf/timestamp.js';
import type { Context } from '../core/context.js';
import { permissionDenied } from '../core/errors.js';
import type { PeerIdentity } from '../core/peer.js';
import { timestampToMs } from '../core/path.js';
import type { RegistryElement } from '../core/registry.js';
import { registryPathOf, type RegistryPath } from '../registry/grpcMetadata.js';
import { subjectOf } from '../registry/updatePath.js';
import { incomingCallKey } from '../../streams/grpc/serve.js';
import { checkPath, registryClientAllowed } from './policies.js';

/** What the registry authorize elements need of a registered item (NS and NSE alike). */
export interface RegistryResource {
  readonly name: string;
  readonly pathIds: readonly string[];
  readonly expirationTime?: Timestamp | undefined;
}

/**
 * Upstream's resource_path_ids_map: each registered name's `path_ids` as the last successful
 * Register left them; `path_ids[0]` (the registrant's SPIFFE ID) owns the name for
 * client_allowed. Unlike upstream, a name is forgotten once its registration's
 * `expiration_time` has passed, not only on Unregister: a registrant that died frees its name,
 * so an NSE whose pod moved may register again (upstream keeps the owner until the registry
 * restarts).
 */
export class RegistryOwners {
  private readonly entries = new Map<string, { readonly ids: readonly string[]; readonly expires: number }>();
  /** Expired entries are swept once the map has doubled since the last sweep (amortised O(1)). */
  private sweepAt = 64;

  /** The path ids `name` was registered with, unless forgotten. */
  get(name: string, now: number): readonly string[] | undefined {
    const entry = this.entries.get(name);
    if (entry === undefined || entry.expires > now) return entry?.ids;
    this.entries.delete(name);
    return undefined;
  }

  has(name: string, now: number): boolean {
    return this.get(name, now) !== undefined;
  }

  remember(item: RegistryResource, now: number): void {
    this.entries.set(item.name, { ids: item.pathIds, expires: item.expirationTime ? timestampToMs(item.expirationTime) : Infinity });
    if (this.entries.size < this.sweepAt) return;
    for (const [name, entry] of this.entries) if (entry.expires <= now) this.entries.delete(name);
    this.sweepAt = Math.max(64, 2 * this.entries.size);
  }

  forget(name: string): void {
    this.entries.delete(name);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** The input of the registry policies (upstream RegistryOpaInput) plus the TLS peer and the time. */
export interface RegistryPolicyInput {
  readonly name: string;
  readonly path: RegistryPath;
  readonly owners: RegistryOwners;
  readonly peer: PeerIdentity | undefined;
  readonly now: number;
}

/**
 * Runs the registry policies in order, the first refusal wins: the path policies over
 * `path` (tokens_valid, tokens_chained, tokens_expired, prev/next_token_signed against
 * `peer`), and client_allowed — the name is free or its owner is the SPIFFE ID of the path's
 * first segment (the registrant). Undefined when allowed, else why not.
 */
export function checkRegistry(policies: readonly string[], input: RegistryPolicyInput): string | undefined {
  const segments = input.path.pathSegments.map((s, i) => ({ name: `#${i}`, id: '', token: s.token }));
  for (const policy of policies) {
    if (policy === registryClientAllowed) {
      const owner = input.owners.get(input.name, input.now);
      const registrant = subjectOf(input.path.pathSegments[0]?.token);
      if (owner !== undefined && owner[0] !== registrant) return `client_allowed: "${input.name}" belongs to ${owner[0] ?? '(nobody)'}, not ${registrant || '(no registrant)'}`;
      continue;
    }
    const why = checkPath([policy], { segments, index: input.path.index, peer: input.peer, now: input.now });
    if (why !== undefined) return why;
  }
  return undefined;
}

/**
 * `authorizeRegistry(policies)` (registry servers, NS and NSE alike, after updatePath; upstream
 * registry authorize server): Register and Unregister pass only if the policies allow the
 * registry path up to this hop (the caller's TLS identity as the peer) and client_allowed lets
 * the registrant — the path's first segment, not the hop that called us — have the name.
 * A successful Register records the name's `path_ids`; an Unregister forgets them, and so does
 * the registration's expiry (see {@link RegistryOwners}). Find is open. Refusals are
 * PERMISSION_DENIED naming the policy. No policies: everything passes.
 *
 * ```
 * nse-1 (expires at 1000) by [nse-a, nsmgr-1] R--------------------------------
 *                       by [nse-a, nsmgr-2] ---R---------------------------- ok (same registrant, its pod moved)
 *                       by [nse-b, nsmgr-1] -----X client_allowed
 *                       by [nse-b, nsmgr-1] ----------------- 1300 ms ----R ok (nse-a's registration ran out)
 * ```
 */
export function authorizeRegistry<T extends RegistryResource, Q, R>(options: { policies: readonly string[]; scheduler?: SchedulerLike }): RegistryElement<T, Q, R> {
  const scheduler = options.scheduler ?? asyncScheduler;
  if (options.policies.length === 0) return {};
  const owners = new RegistryOwners();
  const denied = (item: T, ctx: Context): Error | undefined => {
    const path = registryPathOf(ctx);
    const left = { index: path.index, pathSegments: path.pathSegments.slice(0, path.index + 1) };
    const why = checkRegistry(options.policies, { name: item.name, path: left, owners, peer: ctx.get(incomingCallKey)?.identity, now: scheduler.now() });
    return why === undefined ? undefined : permissionDenied(`authorize: ${why}`);
  };
  return {
    register: (item, ctx, next) =>
      defer(() => {
        const why = denied(item, ctx);
        if (why) return throwError(() => why);
        return next.register(item, ctx).pipe(tap((registered) => owners.remember(registered, scheduler.now())));
      }),
    unregister: (item, ctx, next) =>
      defer(() => {
        const why = denied(item, ctx);
        if (why) return throwError(() => why);
        owners.forget(item.name);
        return next.unregister(item, ctx);
      }),
  };
}

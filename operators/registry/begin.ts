import { asyncScheduler, defer, EMPTY, Observable, of, throwError, type SchedulerLike } from 'rxjs';
import { map, tap } from 'rxjs/operators';
import {
  NetworkService,
  NetworkServiceEndpoint,
  type NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
  type NetworkServiceQuery,
  type NetworkServiceResponse,
} from '../../proto/gen/registry.js';
import { Context, ContextKey } from '../core/context.js';
import { invalidArgument } from '../core/errors.js';
import type { RegistryElement, RegistryHandler } from '../core/registry.js';
import { onSettle } from '../tools/onSettle.js';
import { SerialExecutor } from '../tools/serialExecutor.js';

/** Options of one event: with `cancel` closed by the time the event would start, it is skipped. */
export interface RegistryEventOptions {
  /** Upstream `begin.CancelContext`: checked when the event starts, never after (a running event is not cut off). */
  readonly cancel?: { readonly closed: boolean };
}

/**
 * Lets an element below the registry `begin` re-enter the rest of the chain for one name
 * (refresh, heal, expire), serialised with that name's other calls and given the time budget the
 * first call had. Both emit once when the event ran and complete without a value when it was
 * skipped (nothing registered, or cancelled before it started).
 */
export interface RegistryEventFactory {
  /** Register again what was last registered. */
  register(options?: RegistryEventOptions): Observable<void>;
  /** Unregister it as begin would; the name is forgotten afterwards (even when that fails). */
  unregister(options?: RegistryEventOptions): Observable<void>;
}

/** One key for NS and NSE chains, as upstream (a chain serves one of them). */
export const registryEventFactoryKey = new ContextKey<RegistryEventFactory>('registry.begin.eventFactory');

/** The event factory of the registration this call belongs to (set by a registry `begin`). */
export function registryEventFactoryOf(ctx: Context): RegistryEventFactory | undefined {
  return ctx.get(registryEventFactoryKey);
}

type State = 'new' | 'established' | 'closed';

/** What differs between the NS and NSE registries and between the server and client sides. */
interface Flavour<T> {
  readonly what: string;
  readonly clone: (item: T) => T;
  /** What begin keeps after a successful Register: the answer, under the requested name. */
  readonly merge: (requested: T, answer: T) => T;
  /** NSE: an Unregister of an unknown name still goes down the chain; NS: it succeeds at once. */
  readonly unknownUnregisterPassesThrough: boolean;
  /** Client: an event Unregister sends the last answer; server: the kept registration. */
  readonly client: boolean;
}

/** Per-name state of a registry `begin`: one executor, what was registered, the call context. */
export class RegistrationEntry<T extends { name: string }, Q, R> implements RegistryEventFactory {
  readonly executor = new SerialExecutor();
  state: State = 'new';
  /** What an event Register sends (upstream: the request merged with the answer, no expiration). */
  registration: T | undefined;
  /** The last Register answer. */
  response: T | undefined;
  private valuesCtx: Context;
  private readonly budget: number | undefined;

  constructor(
    ctx: Context,
    private readonly next: RegistryHandler<T, Q, R>,
    private readonly scheduler: SchedulerLike,
    private readonly flavour: Flavour<T>,
    private readonly forget: (entry: RegistrationEntry<T, Q, R>) => void,
  ) {
    this.valuesCtx = ctx;
    const remaining = ctx.remaining(scheduler.now());
    this.budget = Number.isFinite(remaining) ? remaining : undefined;
  }

  /** Context for events: the latest call's values, a fresh copy of the first call's budget. */
  eventContext(): Context {
    return this.valuesCtx.withBudget(this.scheduler.now(), this.budget).with(registryEventFactoryKey, this);
  }

  /** Records a successful Register. */
  remember(requested: T, answer: T, ctx: Context): void {
    this.registration = this.flavour.merge(requested, answer);
    this.response = this.flavour.clone(answer);
    this.state = 'established';
    this.valuesCtx = ctx;
  }

  /** After Unregister (or a failed or cancelled first Register): the name is forgotten. */
  closed(): void {
    this.state = 'closed';
    this.forget(this);
  }

  register(options: RegistryEventOptions = {}): Observable<void> {
    return this.executor.exec(() => {
      const registration = this.registration;
      if (this.state !== 'established' || registration === undefined || options.cancel?.closed) return EMPTY;
      return this.next.register(this.flavour.clone(registration), this.eventContext()).pipe(
        map((answer) => {
          this.registration = this.flavour.merge(registration, answer);
          this.response = this.flavour.clone(answer);
        }),
      );
    });
  }

  unregister(options: RegistryEventOptions = {}): Observable<void> {
    return this.executor.exec(() => {
      const target = this.flavour.client ? this.response : this.registration;
      if (this.state !== 'established' || target === undefined || options.cancel?.closed) return EMPTY;
      return defer(() => this.next.unregister(this.flavour.clone(target), this.eventContext())).pipe(
        onSettle(() => this.closed()),
        map(() => undefined),
      );
    });
  }
}

export interface BeginOptions {
  scheduler?: SchedulerLike;
}

/** A registry `begin` with its live per-name map (for leak checks). */
export interface RegistryBeginElement<T extends { name: string }, Q, R> extends RegistryElement<T, Q, R> {
  readonly names: ReadonlyMap<string, RegistrationEntry<T, Q, R>>;
}

function makeBegin<T extends { name: string }, Q, R>(flavour: Flavour<T>, options: BeginOptions): RegistryBeginElement<T, Q, R> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const names = new Map<string, RegistrationEntry<T, Q, R>>();

  const entryFor = (name: string, ctx: Context, next: RegistryHandler<T, Q, R>): RegistrationEntry<T, Q, R> => {
    let entry = names.get(name);
    if (entry === undefined) {
      entry = new RegistrationEntry(ctx, next, scheduler, flavour, (e) => {
        if (names.get(name) === e) names.delete(name);
      });
      names.set(name, entry);
    }
    return entry;
  };

  const register = (item: T, ctx: Context, next: RegistryHandler<T, Q, R>): Observable<T> =>
    defer(() => {
      const name = item.name;
      if (name === '') return throwError(() => invalidArgument(`${flavour.what}.name must not be empty`));
      if (registryEventFactoryOf(ctx) !== undefined) return next.register(item, ctx);
      const entry = entryFor(name, ctx, next);
      return entry.executor.exec(() => {
        // Unregistered (or forgotten) while we waited: start again with the current entry.
        if (names.get(name) !== entry) return register(item, ctx, next);
        let settled = false;
        return next.register(item, ctx.with(registryEventFactoryKey, entry)).pipe(
          tap({
            next: (answer) => {
              settled = true;
              entry.remember(item, answer, ctx);
            },
            error: () => {
              settled = true;
              if (entry.state !== 'established') entry.closed();
            },
            // Cancelled before an answer: a first Register that never completed is forgotten.
            unsubscribe: () => {
              if (!settled && entry.state !== 'established') entry.closed();
            },
          }),
        );
      });
    });

  const unregister = (item: T, ctx: Context, next: RegistryHandler<T, Q, R>): Observable<void> =>
    defer(() => {
      if (registryEventFactoryOf(ctx) !== undefined) return next.unregister(item, ctx);
      const name = item.name;
      if (!flavour.unknownUnregisterPassesThrough) {
        const entry = names.get(name);
        if (entry === undefined) return of(undefined);
        return entry.executor.exec(() => {
          const registration = entry.registration;
          if (entry.state !== 'established' || registration === undefined || names.get(name) !== entry) return of(undefined);
          return defer(() => next.unregister(flavour.clone(registration), ctx.with(registryEventFactoryKey, entry))).pipe(
            onSettle(() => entry.closed()),
          );
        });
      }
      const entry = entryFor(name, ctx, next);
      return entry.executor.exec(() => {
        if (names.get(name) !== entry) return unregister(item, ctx, next);
        // Always unregister what the chain last accepted; an unknown name goes down as asked.
        const target = entry.registration ?? flavour.clone(item);
        return defer(() => next.unregister(flavour.clone(target), ctx.with(registryEventFactoryKey, entry))).pipe(
          onSettle(() => entry.closed()),
        );
      });
    });

  return { register, unregister, names };
}

const mergeNSE = (requested: NetworkServiceEndpoint, answer: NetworkServiceEndpoint): NetworkServiceEndpoint => {
  const merged = NetworkServiceEndpoint.fromPartial(answer);
  merged.name = requested.name;
  // Each refresh asks for a fresh expiration; the server picks it again.
  merged.expirationTime = undefined;
  return merged;
};

const mergeNS = (requested: NetworkService, answer: NetworkService): NetworkService => {
  const merged = NetworkService.fromPartial(answer);
  merged.name = requested.name;
  return merged;
};

const nseFlavour = (client: boolean): Flavour<NetworkServiceEndpoint> => ({
  what: 'NetworkServiceEndpoint',
  clone: (nse) => NetworkServiceEndpoint.fromPartial(nse),
  merge: mergeNSE,
  unknownUnregisterPassesThrough: true,
  client,
});

const nsFlavour = (client: boolean): Flavour<NetworkService> => ({
  what: 'NetworkService',
  clone: (ns) => NetworkService.fromPartial(ns),
  merge: mergeNS,
  unknownUnregisterPassesThrough: false,
  client,
});

export type NSEBeginElement = RegistryBeginElement<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>;
export type NSBeginElement = RegistryBeginElement<NetworkService, NetworkServiceQuery, NetworkServiceResponse>;

/**
 * Registry `begin` (server side), NSE registry: every Register and Unregister of one name runs
 * in FIFO order, one at a time, and elements below get an event factory.
 *
 * ```
 * register(a)   --R1----|               (R2 for the same name waits for R1)
 * register(a)   ---------R2--|
 * unregister(a) --------------U-|       (sends what R2's answer registered)
 * ```
 * A failed or cancelled first Register forgets the name. Unregister always sends what the chain
 * last accepted; an Unregister of an unknown name still goes down the chain (as upstream) and
 * leaves nothing behind. Transparent when a begin already runs for this call.
 */
export function nseBegin(options: BeginOptions = {}): NSEBeginElement {
  return makeBegin(nseFlavour(false), options);
}

/** Registry `begin` (client side), NSE registry: as the server side; event Unregister sends the last answer. */
export function nseBeginClient(options: BeginOptions = {}): NSEBeginElement {
  return makeBegin(nseFlavour(true), options);
}

/**
 * Registry `begin` (server side), NS registry: as `nseBegin`, except that an Unregister of a name
 * that is not registered here succeeds at once without calling the rest of the chain (as upstream).
 */
export function nsBegin(options: BeginOptions = {}): NSBeginElement {
  return makeBegin(nsFlavour(false), options);
}

/** Registry `begin` (client side), NS registry. */
export function nsBeginClient(options: BeginOptions = {}): NSBeginElement {
  return makeBegin(nsFlavour(true), options);
}

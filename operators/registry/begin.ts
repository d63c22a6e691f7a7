import { asyncScheduler, defer, EMPTY, Observable, of, Subscription, throwError, type SchedulerLike } from 'rxjs';
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

/**
 * Lets an element below the registry `begin` act later for one name (refresh, heal, expire):
 * re-enter the rest of the chain, serialised with that name's other calls and given the time
 * budget the first call had, from a loop the registration owns.
 */
export interface RegistryEventFactory {
  /**
   * Register again what was last registered; emits once when it ran, completes empty when it was
   * skipped (nothing registered). Dropped if unsubscribed while queued; once started it runs to
   * its end (the re-Register a loop asks for replaces that loop, and is still remembered).
   */
  register(): Observable<void>;
  /** Unregister it as begin would; the name is forgotten afterwards (even when that fails). As `register` otherwise. */
  unregister(): Observable<void>;
  /**
   * Subscribes `loop$` for this registration under `key`, replacing that key's loop (the new one
   * is subscribed before the old one is unsubscribed). Every loop ends when an Unregister starts
   * or the name is forgotten.
   */
  loop(key: string, loop$: Observable<unknown>): void;
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
  /** What elements below keep running for this registration (refresh, heal, expire), by key. */
  readonly loops = new Map<string, Subscription>();
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
    this.stopLoops();
    this.forget(this);
  }

  /** Ends every loop (an Unregister starts, the name is forgotten, or the owner is going away). */
  stopLoops(): void {
    const loops = [...this.loops.values()];
    this.loops.clear();
    for (const loop of loops) loop.unsubscribe();
  }

  loop(key: string, loop$: Observable<unknown>): void {
    if (this.state === 'closed') return;
    const previous = this.loops.get(key);
    const loop = new Subscription();
    this.loops.set(key, loop);
    const ended = () => this.loops.get(key) === loop && this.loops.delete(key);
    loop.add(loop$.subscribe({ error: ended, complete: ended }));
    previous?.unsubscribe();
  }

  register(): Observable<void> {
    return this.executor.execToEnd(() => {
      const registration = this.registration;
      if (this.state !== 'established' || registration === undefined) return EMPTY;
      return this.next.register(this.flavour.clone(registration), this.eventContext()).pipe(
        map((answer) => {
          this.registration = this.flavour.merge(registration, answer);
          this.response = this.flavour.clone(answer);
        }),
      );
    });
  }

  unregister(): Observable<void> {
    return this.executor.execToEnd(() => {
      const target = this.flavour.client ? this.response : this.registration;
      return this.state !== 'established' || target === undefined ? EMPTY : this.sendUnregister(target, this.eventContext());
    });
  }

  /** Unregisters `target` below begin: the loops end now, the name is forgotten once it settled. */
  sendUnregister(target: T, ctx: Context): Observable<void> {
    this.stopLoops();
    return defer(() => this.next.unregister(this.flavour.clone(target), ctx.with(registryEventFactoryKey, this))).pipe(onSettle(() => this.closed()));
  }
}

export interface BeginOptions {
  scheduler?: SchedulerLike;
}

/** A registry `begin` with its live per-name map (for leak checks). */
export interface RegistryBeginElement<T extends { name: string }, Q, R> extends RegistryElement<T, Q, R> {
  readonly names: ReadonlyMap<string, RegistrationEntry<T, Q, R>>;
  /** Ends every registration's loops without unregistering (the owner is going away). */
  dispose(): void;
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
          return entry.sendUnregister(registration, ctx);
        });
      }
      const entry = entryFor(name, ctx, next);
      return entry.executor.exec(() => {
        if (names.get(name) !== entry) return unregister(item, ctx, next);
        // Always unregister what the chain last accepted; an unknown name goes down as asked.
        return entry.sendUnregister(entry.registration ?? item, ctx);
      });
    });

  return { register, unregister, names, dispose: () => names.forEach((entry) => entry.stopLoops()) };
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
 *
 * Each registration owns the loops elements below start for it (`loop(key, loop$)`: refresh,
 * heal, expire); their events queue with the calls, and an Unregister ends them as it starts:
 * ```
 * loop(refresh)   --L------x        (x: the loop's event, dropped if still queued)
 * unregister(a)   ---------U-|      (the loop ends when U starts)
 * ```
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

import { EMPTY, Observable, of, throwError } from 'rxjs';
import type {
  NetworkService,
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointResponse,
  NetworkServiceQuery,
  NetworkServiceResponse,
} from '../../proto/gen/registry.js';
import { ContextKey, type Context } from './context.js';

/**
 * Set on a watch Find whose caller opens it again itself when it breaks (registry heal's own
 * re-opened Finds; `liveFind`, which then reads a whole fresh snapshot so that what was deleted
 * meanwhile leaves its view): a registry client's heal passes its break through.
 */
export const watchReopenedByCallerKey = new ContextKey<true>('registry.find.reopenedByCaller');

/**
 * The rest of a registry chain. One generic shape serves both registries (NS and NSE):
 * `T` the registered item, `Q` the query, `R` a Find response. Register and Unregister emit once;
 * Find emits the current matches and, for watch queries, every later change until unsubscribed.
 */
export interface RegistryHandler<T, Q, R> {
  register(item: T, ctx: Context): Observable<T>;
  find(query: Q, ctx: Context): Observable<R>;
  unregister(item: T, ctx: Context): Observable<void>;
}

export interface RegistryElement<T, Q, R> {
  readonly register?: (item: T, ctx: Context, next: RegistryHandler<T, Q, R>) => Observable<T>;
  readonly find?: (query: Q, ctx: Context, next: RegistryHandler<T, Q, R>) => Observable<R>;
  readonly unregister?: (item: T, ctx: Context, next: RegistryHandler<T, Q, R>) => Observable<void>;
}

export type NSHandler = RegistryHandler<NetworkService, NetworkServiceQuery, NetworkServiceResponse>;
export type NSElement = RegistryElement<NetworkService, NetworkServiceQuery, NetworkServiceResponse>;
export type NSEHandler = RegistryHandler<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>;
export type NSEElement = RegistryElement<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>;

/** End of every registry chain: Register echoes, Find finds nothing, Unregister succeeds. */
export function registryTail<T, Q, R>(): RegistryHandler<T, Q, R> {
  return { register: (item) => of(item), find: () => EMPTY, unregister: () => of(undefined) };
}

/** Composes registry elements top to bottom, like `chain` for NetworkService. */
export function registryChain<T, Q, R>(
  elements: readonly RegistryElement<T, Q, R>[],
  last: RegistryHandler<T, Q, R> = registryTail<T, Q, R>(),
): RegistryHandler<T, Q, R> {
  return elements.reduceRight<RegistryHandler<T, Q, R>>((next, element) => {
    const { register, find, unregister } = element;
    return {
      register: register ? (item, ctx) => register(item, ctx, next) : next.register,
      find: find ? (query, ctx) => find(query, ctx, next) : next.find,
      unregister: unregister ? (item, ctx) => unregister(item, ctx, next) : next.unregister,
    };
  }, last);
}

/**
 * An element that refuses bad input before anything else runs: `item` checks Register and
 * Unregister, `query` checks Find; each returns the error to answer with, or undefined.
 */
export function registryGuard<T, Q, R>(checks: {
  item: (item: T, op: 'register' | 'unregister') => Error | undefined;
  query: (query: Q) => Error | undefined;
}): RegistryElement<T, Q, R> {
  return {
    register: (item, ctx, next) => {
      const err = checks.item(item, 'register');
      return err ? throwError(() => err) : next.register(item, ctx);
    },
    find: (query, ctx, next) => {
      const err = checks.query(query);
      return err ? throwError(() => err) : next.find(query, ctx);
    },
    unregister: (item, ctx, next) => {
      const err = checks.item(item, 'unregister');
      return err ? throwError(() => err) : next.unregister(item, ctx);
    },
  };
}

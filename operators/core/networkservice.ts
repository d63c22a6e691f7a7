import { Observable, of } from 'rxjs';
import type { Connection } from '../../proto/gen/connection.js';
import type { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import type { Context } from './context.js';

/**
 * The rest of a NetworkService chain as seen by one element (Go's `next.Server(ctx)`).
 * Each call returns a cold Observable that emits once and completes, or errors with an NsmError;
 * unsubscribing cancels the call and everything it started downstream.
 */
export interface NetworkServiceHandler {
  request(request: NetworkServiceRequest, ctx: Context): Observable<Connection>;
  close(connection: Connection, ctx: Context): Observable<void>;
}

/**
 * One chain element. Either half may be omitted: that half passes straight through.
 * Like upstream, elements may mutate the request in place and post-process on the way back.
 */
export interface NetworkServiceElement {
  readonly request?: (request: NetworkServiceRequest, ctx: Context, next: NetworkServiceHandler) => Observable<Connection>;
  readonly close?: (connection: Connection, ctx: Context, next: NetworkServiceHandler) => Observable<void>;
}

/** End of every chain: Request returns the connection as it arrived here, Close succeeds. */
export const tail: NetworkServiceHandler = {
  request: (request) => of(request.connection as Connection),
  close: () => of(undefined),
};

/**
 * Composes elements top to bottom into one handler ending in `last` (default: `tail`), so a chain
 * reads as the ordered list upstream uses. The nesting is built once, not per call.
 */
export function chain(elements: readonly NetworkServiceElement[], last: NetworkServiceHandler = tail): NetworkServiceHandler {
  return elements.reduceRight<NetworkServiceHandler>((next, element) => {
    const { request, close } = element;
    return {
      request: request ? (r, ctx) => request(r, ctx, next) : next.request,
      close: close ? (c, ctx) => close(c, ctx, next) : next.close,
    };
  }, last);
}

/** Treats a whole handler as one element that ignores `next` (used to nest a sub-chain as the end). */
export function asElement(handler: NetworkServiceHandler): NetworkServiceElement {
  return { request: (r, ctx) => handler.request(r, ctx), close: (c, ctx) => handler.close(c, ctx) };
}

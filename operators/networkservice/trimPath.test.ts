import { defer, of, throwError } from 'rxjs';
import { map } from 'rxjs/operators';
import { describe, it } from 'vitest';
import { Connection, type PathSegment } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { unavailable } from '../core/errors.js';
import { asElement, chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { trimPathClient, trimPathServer } from './trimPath.js';
import { marbles } from '../../test/marbles.js';

const seg = (name: string): PathSegment => ({ name, id: `${name}-id`, token: '', expires: undefined, metrics: {} });
const names = map((c: Connection) => c.path?.pathSegments.map((s) => s.name).join(','));

/** An NSE (index 3) receiving a re-request whose path still has a segment from an earlier, longer path. */
const request = () =>
  NetworkServiceRequest.fromPartial({
    connection: { id: 'nse-id', path: { index: 3, pathSegments: [seg('nsc'), seg('nsmgr'), seg('fwd'), seg('nse'), seg('stale')] } },
  });

/** The next hop of a passthrough: answers with two more segments of its own. */
const nextHop: NetworkServiceHandler = {
  request: (req) =>
    defer(() => {
      const conn = Connection.fromPartial(req.connection as Connection);
      conn.path = { index: 3, pathSegments: [...(conn.path?.pathSegments.slice(0, 4) ?? []), seg('nsmgr-2'), seg('nse-2')] };
      return of(conn);
    }),
  close: () => of(undefined),
};

describe('trimPath', () => {
  it('a final endpoint cuts the returned path after its own segment', () => {
    marbles(({ expectObservable }) => {
      const handler = chain([trimPathServer()]);
      //  [nsc, nsmgr, fwd, nse, stale] --> [nsc, nsmgr, fwd, nse]
      expectObservable(handler.request(request(), Context.background).pipe(names)).toBe('(p|)', { p: 'nsc,nsmgr,fwd,nse' });
    });
  });

  it('a passthrough whose client chain has trimPathClient keeps the downstream segments', () => {
    marbles(({ expectObservable }) => {
      const client = chain([trimPathClient()], nextHop);
      const handler = chain([trimPathServer(), asElement(client)]);
      expectObservable(handler.request(request(), Context.background).pipe(names)).toBe('(p|)', { p: 'nsc,nsmgr,fwd,nse,nsmgr-2,nse-2' });
    });
  });

  it('a client chain without trimPathClient does not stop the trim', () => {
    marbles(({ expectObservable }) => {
      const handler = chain([trimPathServer()], nextHop);
      expectObservable(handler.request(request(), Context.background).pipe(names)).toBe('(p|)', { p: 'nsc,nsmgr,fwd,nse' });
    });
  });

  it('the flag belongs to one call: a later call without a passthrough is trimmed again', () => {
    marbles(({ expectObservable }) => {
      let passthrough = true;
      const client = chain([trimPathClient()], nextHop);
      const handler = chain([trimPathServer()], {
        request: (req, ctx) => (passthrough ? client.request(req, ctx) : nextHop.request(req, ctx)),
        close: () => of(undefined),
      });
      expectObservable(handler.request(request(), Context.background).pipe(names)).toBe('(p|)', { p: 'nsc,nsmgr,fwd,nse,nsmgr-2,nse-2' });
      passthrough = false;
      expectObservable(handler.request(request(), Context.background).pipe(names)).toBe('(p|)', { p: 'nsc,nsmgr,fwd,nse' });
    });
  });

  it('errors pass through untouched', () => {
    marbles(({ expectObservable }) => {
      const handler = chain([trimPathServer(), trimPathClient()], { request: () => throwError(() => unavailable('x')), close: () => of(undefined) });
      expectObservable(handler.request(request(), Context.background)).toBe('#', undefined, unavailable('x'));
    });
  });
});

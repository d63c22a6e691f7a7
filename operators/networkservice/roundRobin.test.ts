import { status } from '../core/status.js';
import { defer, lastValueFrom, Observable, of, throwError } from 'rxjs';
import { map } from 'rxjs/operators';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { NetworkService, NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { NsmError, permissionDenied, unavailable } from '../core/errors.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { unixUrl } from '../tools/nsmUrl.js';
import { clientUrlKey, clientUrlOf } from './clientUrl.js';
import { withCandidates } from './discover.js';
import { roundRobin } from './roundRobin.js';
import { marbles } from '../../test/marbles.js';

const nse = (name: string, url = `unix:///${name}.sock`) => NetworkServiceEndpoint.fromPartial({ name, url });
const ctxFor = (ns: string, ...names: string[]) =>
  withCandidates(Context.background, { networkService: NetworkService.fromPartial({ name: ns }), endpoints: names.map((n) => nse(n)) });
const req = (ns = 'ns') => NetworkServiceRequest.fromPartial({ connection: { id: 'c', networkService: ns } });

/** Records each try (endpoint name, URL); `answer` decides per endpoint name (default: success). */
function recorder(answer: (name: string, n: number) => Observable<unknown> = () => of(undefined)) {
  const tries: { name: string; url?: string; at: number }[] = [];
  let now = () => 0;
  const next: NetworkServiceHandler = {
    request: (r, ctx) =>
      defer(() => {
        const name = r.connection?.networkServiceEndpointName ?? '';
        const n = tries.push({ name, url: clientUrlOf(ctx)?.href, at: now() }) - 1;
        // a failing try scribbles on its copy of the request
        (r.connection as Connection).labels = { ...r.connection?.labels, [`tried-${name}`]: 'yes' };
        return answer(name, n).pipe(map(() => Connection.fromPartial(r.connection as Connection)));
      }),
    close: () => of(undefined),
  };
  return { next, tries, setClock: (f: () => number) => (now = f) };
}

describe('roundRobin', () => {
  it('rotates over the candidates, one counter per network service', async () => {
    const rec = recorder();
    const rr = roundRobin();
    const handler = chain([rr], rec.next);
    for (let i = 0; i < 4; i++) await lastValueFrom(handler.request(req('ns'), ctxFor('ns', 'a', 'b', 'c')));
    await lastValueFrom(handler.request(req('other'), ctxFor('other', 'x', 'y')));
    await lastValueFrom(handler.request(req('other'), ctxFor('other', 'x', 'y')));
    expect(rec.tries.map((t) => t.name)).toEqual(['a', 'b', 'c', 'a', 'x', 'y']);
    expect(rr.counters.get('ns')).toBe(4);
    expect(rr.counters.get('other')).toBe(2);
  });

  it('sets the endpoint URL and name; the returned connection names the endpoint', async () => {
    const rec = recorder();
    const handler = chain([roundRobin()], rec.next);
    const ctx = withCandidates(Context.background, { networkService: NetworkService.fromPartial({ name: 'ns' }), endpoints: [nse('a', 'tcp://10.0.0.1:5001')] });
    const conn = await lastValueFrom(handler.request(req(), ctx));
    expect(rec.tries[0]).toMatchObject({ name: 'a', url: 'tcp://10.0.0.1:5001' });
    expect(conn.networkServiceEndpointName).toBe('a');
  });

  it('fails over to the next candidate; a failed try leaves nothing on the next; the counter moves past both', async () => {
    const rec = recorder((name) => (name === 'a' ? throwError(() => unavailable('a is down')) : of(undefined)));
    const handler = chain([roundRobin()], rec.next);
    const conn = await lastValueFrom(handler.request(req(), ctxFor('ns', 'a', 'b', 'c')));
    expect(conn.networkServiceEndpointName).toBe('b');
    expect(conn.labels).toEqual({ 'tried-b': 'yes' });
    await lastValueFrom(handler.request(req(), ctxFor('ns', 'a', 'b', 'c')));
    expect(rec.tries.map((t) => t.name)).toEqual(['a', 'b', 'c']);
  });

  it('tries each candidate once, wrapping around from the start', async () => {
    const rr2 = recorder((name) => (name === 'a' ? of(undefined) : throwError(() => unavailable(`${name} down`))));
    const rr = roundRobin();
    const h2 = chain([rr], rr2.next);
    await lastValueFrom(h2.request(req(), ctxFor('ns', 'a', 'b', 'c'))); // a ✓ → counter 1
    await lastValueFrom(h2.request(req(), ctxFor('ns', 'a', 'b', 'c'))); // b ✗ c ✗ a ✓ → counter 4
    expect(rr2.tries.map((t) => t.name)).toEqual(['a', 'b', 'c', 'a']);
    expect(rr.counters.get('ns')).toBe(4);
  });

  it('all candidates fail: the last failure\'s code, every failure listed', async () => {
    const rec = recorder((name) => throwError(() => (name === 'b' ? permissionDenied('b says no') : unavailable('a is down'))));
    const handler = chain([roundRobin()], rec.next);
    const err = (await lastValueFrom(handler.request(req(), ctxFor('ns', 'a', 'b'))).catch((e: unknown) => e)) as NsmError;
    expect(err).toBeInstanceOf(NsmError);
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(err.message).toBe('all 2 candidates for network service "ns" have failed: 0. a: a is down; 1. b: b says no');
  });

  it('a candidate with an unusable URL ends the Request with that error (upstream: "failed to parse url"); no other is tried', async () => {
    const rec = recorder();
    const rr = roundRobin();
    const handler = chain([rr], rec.next);
    const ctx = withCandidates(Context.background, { networkService: NetworkService.fromPartial({ name: 'ns' }), endpoints: [nse('bad', 'ftp://x'), nse('good')] });
    const err = (await lastValueFrom(handler.request(req(), ctx)).catch((e: unknown) => e)) as NsmError;
    expect(err).toBeInstanceOf(NsmError);
    expect(err.message).toMatch(/"bad" has an unusable url/);
    expect(rec.tries).toEqual([]);
    // the try counted: the next Request starts at the good one
    await lastValueFrom(handler.request(req(), ctx));
    expect(rec.tries.map((t) => t.name)).toEqual(['good']);
  });

  it('passes through when a client URL is already in the context', async () => {
    const rec = recorder();
    const rr = roundRobin();
    const handler = chain([rr], rec.next);
    await lastValueFrom(handler.request(req(), ctxFor('ns', 'a').with(clientUrlKey, unixUrl('/fixed.sock'))));
    expect(rec.tries).toEqual([{ name: '', url: 'unix:///fixed.sock', at: 0 }]);
    expect(rr.counters.size).toBe(0);
  });

  it('no candidates in the context: INTERNAL; an empty list: NOT_FOUND', async () => {
    const handler = chain([roundRobin()], recorder().next);
    const e1 = (await lastValueFrom(handler.request(req(), Context.background)).catch((e: unknown) => e)) as NsmError;
    expect(e1.code).toBe(status.INTERNAL);
    const e2 = (await lastValueFrom(handler.request(req(), ctxFor('ns'))).catch((e: unknown) => e)) as NsmError;
    expect(e2.code).toBe(status.NOT_FOUND);
  });

  it('Close passes straight through', async () => {
    const closes: string[] = [];
    const next: NetworkServiceHandler = { request: () => of(Connection.fromPartial({})), close: (c) => defer(() => (closes.push(c.id), of(undefined))) };
    await lastValueFrom(chain([roundRobin()], next).close(Connection.fromPartial({ id: 'x' }), Context.background));
    expect(closes).toEqual(['x']);
  });

  it('tries one after another in time; every try re-reads the shared counter, so concurrent requests interleave (upstream)', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      // every try fails after 2 frames
      const rec = recorder(() => cold('--#', undefined, unavailable('down')));
      rec.setClock(() => scheduler.now());
      const handler = chain([roundRobin()], rec.next);
      const err = new NsmError(status.UNAVAILABLE, 'all 2 candidates for network service "ns" have failed: 0. a: down; 1. a: down');
      expectObservable(handler.request(req(), ctxFor('ns', 'a', 'b'))).toBe('----#', undefined, err);
      const err2 = new NsmError(status.UNAVAILABLE, 'all 2 candidates for network service "ns" have failed: 0. b: down; 1. b: down');
      expectObservable(handler.request(req(), ctxFor('ns', 'a', 'b'))).toBe('----#', undefined, err2);
      scheduler.flush();
      // both started at 0: the first at a (counter 0), the second at b (counter 1); at 2 the
      // first reads counter 2 (a again), the second counter 3 (b again)
      expect(rec.tries.map((t) => `${t.at}:${t.name}`)).toEqual(['0:a', '0:b', '2:a', '2:b']);
    });
  });

  it('unsubscribing stops the failover: no further candidate is tried', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const rec = recorder(() => cold('--#', undefined, unavailable('down')));
      rec.setClock(() => scheduler.now());
      const handler = chain([roundRobin()], rec.next);
      expectObservable(handler.request(req(), ctxFor('ns', 'a', 'b', 'c')), '^--!').toBe('-');
      scheduler.flush();
      expect(rec.tries.map((t) => `${t.at}:${t.name}`)).toEqual(['0:a', '2:b']);
    });
  });
});

import { status } from '../core/status.js';
import { defer, of } from 'rxjs';
import { map } from 'rxjs/operators';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { Connection, type PathSegment } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { NsmError } from '../core/errors.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { advancePath, updatePath } from './updatePath.js';

const newScheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const seg = (name: string, id: string): PathSegment => ({ name, id, token: '', expires: undefined, metrics: {} });
const conn = (id: string, index: number, ...segments: PathSegment[]): Connection =>
  Connection.fromPartial({ id, networkService: 'ns', path: { index, pathSegments: segments } });
const names = (c: Connection) => c.path?.pathSegments.map((s) => s.name);

function expectInvalidArgument(f: () => unknown): NsmError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NsmError);
    expect((e as NsmError).code).toBe(status.INVALID_ARGUMENT);
    return e as NsmError;
  }
  throw new Error('expected an INVALID_ARGUMENT error');
}

describe('advancePath', () => {
  it('empty path: this hop is first, keeps the connection id, index 0', () => {
    const c = Connection.fromPartial({ id: 'nsc-id' });
    expect(advancePath(c, 'nsc')).toBe(0);
    expect(c.path).toEqual({ index: 0, pathSegments: [seg('nsc', 'nsc-id')] });
    expect(c.id).toBe('nsc-id');
  });

  it('empty path and no id: a fresh uuid becomes both the segment id and the connection id', () => {
    const c = Connection.fromPartial({ path: { index: 3, pathSegments: [] } });
    expect(advancePath(c, 'nsc')).toBe(0);
    expect(c.id).toMatch(UUID);
    expect(c.path?.index).toBe(0);
    expect(c.path?.pathSegments).toEqual([seg('nsc', c.id)]);
  });

  it('current segment has our name: a refresh, nothing moves and the id is the segment id', () => {
    const c = conn('stale', 1, seg('nsc', 'a'), seg('nsmgr', 'b'));
    expect(advancePath(c, 'nsmgr')).toBe(1);
    expect(c.id).toBe('b');
    expect(c.path?.index).toBe(1);
    expect(names(c)).toEqual(['nsc', 'nsmgr']);
  });

  it('next segment has our name: step onto it and reuse its id', () => {
    const c = conn('a', 0, seg('nsc', 'a'), seg('nsmgr', 'b'), seg('fwd', 'c'));
    expect(advancePath(c, 'nsmgr')).toBe(0);
    expect(c.path?.index).toBe(1);
    expect(c.id).toBe('b');
    expect(c.path?.pathSegments).toEqual([seg('nsc', 'a'), seg('nsmgr', 'b'), seg('fwd', 'c')]);
  });

  it('next segment has another name: it is renamed to ours with a new id (reselected hop)', () => {
    const c = conn('a', 0, seg('nsc', 'a'), seg('nsmgr-old', 'b'), seg('fwd', 'c'));
    expect(advancePath(c, 'nsmgr-new')).toBe(0);
    expect(c.path?.index).toBe(1);
    const renamed = c.path?.pathSegments[1] as PathSegment;
    expect(renamed.name).toBe('nsmgr-new');
    expect(renamed.id).toMatch(UUID);
    expect(renamed.id).not.toBe('b');
    expect(c.id).toBe(renamed.id);
    // later segments are left for later hops
    expect(c.path?.pathSegments[2]).toEqual(seg('fwd', 'c'));
  });

  it('past the end: appends a segment with a new id', () => {
    const c = conn('a', 0, seg('nsc', 'a'));
    expect(advancePath(c, 'nsmgr')).toBe(0);
    expect(c.path?.index).toBe(1);
    expect(names(c)).toEqual(['nsc', 'nsmgr']);
    expect(c.id).toMatch(UUID);
    expect(c.path?.pathSegments[1]?.id).toBe(c.id);
  });

  it('index out of range: INVALID_ARGUMENT (code 3)', () => {
    const c = conn('a', 2, seg('nsc', 'a'), seg('nsmgr', 'b'));
    const err = expectInvalidArgument(() => advancePath(c, 'fwd'));
    expect(err.message).toContain('out of range');
  });

  it('current segment id differs from the connection id: INVALID_ARGUMENT (code 3)', () => {
    const c = conn('not-a', 0, seg('nsc', 'a'));
    const err = expectInvalidArgument(() => advancePath(c, 'nsmgr'));
    expect(err.message).toContain('"a"');
    expect(err.message).toContain('"not-a"');
  });
});

describe('updatePath element', () => {
  /** The rest of the chain: records what it saw and answers with a copy, a bit later. */
  function recorder() {
    const seen: Connection[] = [];
    const closed: Connection[] = [];
    const next: NetworkServiceHandler = {
      request: (req) =>
        defer(() => {
          seen.push(Connection.fromPartial(req.connection as Connection));
          return of(Connection.fromPartial(req.connection as Connection));
        }),
      close: (c) =>
        defer(() => {
          closed.push(Connection.fromPartial(c));
          return of(undefined);
        }),
    };
    return { seen, closed, next };
  }

  it('next sees its own segment; the caller gets its own index and id back', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const seen: Connection[] = [];
      // next answers 2 ms later with what it was given (its own view: index 1, its own id)
      const next: NetworkServiceHandler = {
        request: (req) => {
          seen.push(Connection.fromPartial(req.connection as Connection));
          return cold('--(c|)', { c: Connection.fromPartial(req.connection as Connection) });
        },
        close: () => of(undefined),
      };
      const handler = chain([updatePath('nsmgr')], next);
      const request = NetworkServiceRequest.fromPartial({ connection: conn('a', 0, seg('nsc', 'a')) });
      const view = (c: Connection) => `${c.id}@${c.path?.index}:${names(c)?.join(',')}`;
      //                    request: {id a, index 0, [nsc]}  -->  next: {id <uuid>, index 1, [nsc, nsmgr]}
      expectObservable(handler.request(request, Context.background).pipe(map(view))).toBe('--(c|)', { c: 'a@0:nsc,nsmgr' });
      cold('-x').subscribe(() => {
        const below = seen[0] as Connection;
        expect(below.path?.index).toBe(1);
        expect(below.id).toMatch(UUID);
        expect(below.id).toBe(below.path?.pathSegments[1]?.id);
      });
    });
  });

  it('a refresh with the returned connection reuses the same segment id below', () => {
    const { seen, next } = recorder();
    const handler = chain([updatePath('nsmgr')], next);
    let first: Connection | undefined;
    handler.request(NetworkServiceRequest.fromPartial({ connection: conn('a', 0, seg('nsc', 'a')) }), Context.background).subscribe((c) => (first = c));
    handler.request(NetworkServiceRequest.fromPartial({ connection: first }), Context.background).subscribe();
    expect(seen[1]?.id).toBe(seen[0]?.id);
    expect(seen[1]?.path?.pathSegments).toHaveLength(2);
  });

  it('a server and its inner client with the same name share one segment', () => {
    const { seen, next } = recorder();
    const handler = chain([updatePath('nsmgr'), updatePath('nsmgr')], next);
    handler.request(NetworkServiceRequest.fromPartial({ connection: conn('a', 0, seg('nsc', 'a')) }), Context.background).subscribe();
    expect(names(seen[0] as Connection)).toEqual(['nsc', 'nsmgr']);
    expect(seen[0]?.path?.index).toBe(1);
  });

  it('invalid paths fail the request with INVALID_ARGUMENT and never reach next', () => {
    newScheduler().run(({ expectObservable }) => {
      const { seen, next } = recorder();
      const handler = chain([updatePath('nsmgr')], next);
      const bad = NetworkServiceRequest.fromPartial({ connection: conn('wrong', 0, seg('nsc', 'a')) });
      expectObservable(handler.request(bad, Context.background)).toBe(
        '#',
        undefined,
        expect.objectContaining({ code: status.INVALID_ARGUMENT }) as unknown as Error,
      );
      const outOfRange = NetworkServiceRequest.fromPartial({ connection: conn('a', 5, seg('nsc', 'a')) });
      expectObservable(handler.request(outOfRange, Context.background)).toBe(
        '#',
        undefined,
        expect.objectContaining({ code: status.INVALID_ARGUMENT }) as unknown as Error,
      );
      expectObservable(handler.request(NetworkServiceRequest.fromPartial({}), Context.background)).toBe(
        '#',
        undefined,
        expect.objectContaining({ code: status.INVALID_ARGUMENT }) as unknown as Error,
      );
      expect(seen).toHaveLength(0);
    });
  });

  it('Close moves the path the same way before reaching next', () => {
    const { closed, next } = recorder();
    const handler = chain([updatePath('nsmgr')], next);
    handler.close(conn('a', 0, seg('nsc', 'a'), seg('nsmgr', 'b')), Context.background).subscribe();
    expect(closed[0]?.id).toBe('b');
    expect(closed[0]?.path?.index).toBe(1);
  });

  it('Close with an invalid path errors with INVALID_ARGUMENT', () => {
    const { closed, next } = recorder();
    const handler = chain([updatePath('nsmgr')], next);
    let err: unknown;
    handler.close(conn('x', 0, seg('nsc', 'a')), Context.background).subscribe({ error: (e: unknown) => (err = e) });
    expect((err as NsmError).code).toBe(status.INVALID_ARGUMENT);
    expect(closed).toHaveLength(0);
  });
});

import { defer, NEVER, of, Subscription, throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context, ContextKey } from '../core/context.js';
import { unavailable } from '../core/errors.js';
import { chain, type NetworkServiceElement, type NetworkServiceHandler } from '../core/networkservice.js';
import { metadata, metadataOf, type ConnectionMetadata } from './metadata.js';
import { marbles } from '../../test/marbles.js';

const request = (id = 'a') => NetworkServiceRequest.fromPartial({ connection: { id, networkService: 'ns' } });
const connection = (id = 'a') => Connection.fromPartial({ id, networkService: 'ns' });
const counter = new ContextKey<number>('test.counter');

/** An element below metadata that counts its calls per connection in the metadata. */
function counting(seen: ConnectionMetadata[]): NetworkServiceElement {
  return {
    request: (req, ctx, next) =>
      defer(() => {
        const meta = metadataOf(ctx);
        seen.push(meta);
        meta.set(counter, (meta.get(counter) ?? 0) + 1);
        return next.request(req, ctx);
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        seen.push(metadataOf(ctx));
        return next.close(conn, ctx);
      }),
  };
}

/** The end of the chain; fails the Requests `failAt` lists (0-based), and every Close if `closeFails`. */
function tail(options: { failAt?: readonly number[]; closeFails?: boolean } = {}): NetworkServiceHandler {
  let n = 0;
  return {
    request: (req) => (options.failAt?.includes(n++) ? throwError(() => unavailable('failed')) : of(Connection.fromPartial(req.connection as Connection))),
    close: () => (options.closeFails ? throwError(() => unavailable('close failed')) : of(undefined)),
  };
}

describe('metadata', () => {
  it('creates a connection’s state on its first Request and keeps it across Requests', () => {
    marbles(({ flush }) => {
      const seen: ConnectionMetadata[] = [];
      const meta = metadata();
      const handler = chain([meta, counting(seen)], tail());
      handler.request(request('a'), Context.background).subscribe();
      handler.request(request('a'), Context.background).subscribe();
      handler.request(request('b'), Context.background).subscribe();
      flush();
      expect([...meta.connections.keys()]).toEqual(['a', 'b']);
      expect(seen[0]).toBe(seen[1]);
      expect(seen[2]).not.toBe(seen[0]);
      expect(meta.connections.get('a')?.get(counter)).toBe(2);
    });
  });

  it('drops it on Close (which sees the same state)', () => {
    marbles(({ flush }) => {
      const seen: ConnectionMetadata[] = [];
      const meta = metadata();
      const handler = chain([meta, counting(seen)], tail());
      handler.request(request('a'), Context.background).subscribe();
      handler.close(connection('a'), Context.background).subscribe();
      flush();
      expect(seen[1]).toBe(seen[0]);
      expect(meta.connections.size).toBe(0);
    });
  });

  it('drops it even when the Close fails', () => {
    marbles(({ flush }) => {
      const meta = metadata();
      const handler = chain([meta], tail({ closeFails: true }));
      handler.request(request('a'), Context.background).subscribe();
      handler.close(connection('a'), Context.background).subscribe({ error: () => undefined });
      flush();
      expect(meta.connections.size).toBe(0);
    });
  });

  it('a Close for an unknown id gets throwaway state and stores nothing', () => {
    marbles(({ flush }) => {
      const seen: ConnectionMetadata[] = [];
      const meta = metadata();
      const handler = chain([meta, counting(seen)], tail());
      handler.close(connection('x'), Context.background).subscribe();
      flush();
      expect(seen).toHaveLength(1);
      expect(meta.connections.size).toBe(0);
    });
  });

  it('drops it when the first Request fails', () => {
    marbles(({ flush }) => {
      const meta = metadata();
      const handler = chain([meta], tail({ failAt: [0] }));
      handler.request(request('a'), Context.background).subscribe({ error: () => undefined });
      flush();
      expect(meta.connections.size).toBe(0);
    });
  });

  it('drops it when the first Request is cancelled before its answer, releasing what it held', () => {
    marbles(({ cold, expectObservable, expectSubscriptions, flush }) => {
      const meta = metadata();
      const reply = cold('-----(c|)', { c: connection('a') });
      const held = new Subscription();
      const holder: NetworkServiceElement = {
        request: (req, ctx, next) => {
          metadataOf(ctx).set(new ContextKey<Subscription>('held'), held);
          return next.request(req, ctx);
        },
      };
      const handler = chain([meta, holder], { request: () => reply, close: () => of(undefined) });
      expectObservable(handler.request(request('a'), Context.background), '^-!').toBe('');
      expectSubscriptions(reply.subscriptions).toBe('^-!');
      flush();
      expect(meta.connections.size).toBe(0);
      expect(held.closed).toBe(true);
    });
  });

  it('Close releases whatever the connection’s state still holds', () => {
    marbles(({ flush }) => {
      const meta = metadata();
      const held = new Subscription();
      const holder: NetworkServiceElement = {
        request: (req, ctx, next) => {
          metadataOf(ctx).set(new ContextKey<Subscription>('held'), held);
          return next.request(req, ctx);
        },
      };
      const handler = chain([meta, holder], tail());
      handler.request(request('a'), Context.background).subscribe();
      flush();
      expect(held.closed).toBe(false);
      handler.close(connection('a'), Context.background).subscribe();
      flush();
      expect(held.closed).toBe(true);
    });
  });

  it('keeps it when a later Request (refresh) fails', () => {
    marbles(({ flush }) => {
      const seen: ConnectionMetadata[] = [];
      const meta = metadata();
      const handler = chain([meta, counting(seen)], tail({ failAt: [1] }));
      handler.request(request('a'), Context.background).subscribe();
      handler.request(request('a'), Context.background).subscribe({ error: () => undefined });
      flush();
      expect(meta.connections.get('a')).toBe(seen[0]);
      expect(meta.connections.get('a')?.get(counter)).toBe(2);
    });
  });

  it('is lazy: nothing is created until the Request is subscribed', () => {
    marbles(({ cold, expectSubscriptions, flush }) => {
      const meta = metadata();
      const reply = cold('--(c|)', { c: connection('a') });
      const handler = chain([meta], { request: () => reply, close: () => of(undefined) });
      const pending = handler.request(request('a'), Context.background);
      expect(meta.connections.size).toBe(0);
      cold('-x').subscribe(() => pending.subscribe());
      cold('--x').subscribe(() => expect(meta.connections.size).toBe(1));
      expectSubscriptions(reply.subscriptions).toBe('-^-!');
      flush();
    });
  });

  it('an inner metadata for the same id (client chain inside a server chain) shares the outer state', () => {
    marbles(({ flush }) => {
      const seen: ConnectionMetadata[] = [];
      const outer = metadata();
      const inner = metadata();
      const handler = chain([outer, counting(seen), inner, counting(seen)], tail());
      handler.request(request('a'), Context.background).subscribe();
      handler.close(connection('a'), Context.background).subscribe();
      flush();
      expect(seen[1]).toBe(seen[0]);
      expect(seen[3]).toBe(seen[2]);
      expect(inner.connections.size).toBe(0);
      expect(outer.connections.size).toBe(0);
    });
  });

  it('an inner metadata for another id keeps its own state', () => {
    marbles(({ flush }) => {
      const seen: ConnectionMetadata[] = [];
      const outer = metadata();
      const inner = metadata();
      const renameTo = (id: string): NetworkServiceElement => ({
        request: (req, ctx, next) => next.request({ ...req, connection: { ...(req.connection as Connection), id } }, ctx),
      });
      const handler = chain([outer, counting(seen), renameTo('a-next'), inner, counting(seen)], tail());
      handler.request(request('a'), Context.background).subscribe();
      flush();
      expect(seen[1]).not.toBe(seen[0]);
      expect([...outer.connections.keys()]).toEqual(['a']);
      expect([...inner.connections.keys()]).toEqual(['a-next']);
    });
  });

  it('dispose releases what the connections hold and forgets them', () => {
    marbles(({ flush }) => {
      const meta = metadata();
      const timer = new Subscription();
      let released = 0;
      const holder: NetworkServiceElement = {
        request: (req, ctx, next) => {
          const m = metadataOf(ctx);
          m.set(new ContextKey<Subscription>('timer'), timer);
          m.set(new ContextKey<{ release(): void }>('channel'), { release: () => released++ });
          m.set(new ContextKey<string>('plain'), 'value');
          m.set(new ContextKey<Subscription>('stream'), NEVER.subscribe());
          return next.request(req, ctx);
        },
      };
      const handler = chain([meta, holder], tail());
      handler.request(request('a'), Context.background).subscribe();
      flush();
      const state = meta.connections.get('a') as ConnectionMetadata;
      expect(state.size).toBe(4);
      meta.dispose();
      expect(timer.closed).toBe(true);
      expect(released).toBe(1);
      expect(state.size).toBe(0);
      expect(meta.connections.size).toBe(0);
    });
  });

  it('metadataOf outside a metadata element is a programming error', () => {
    expect(() => metadataOf(Context.background)).toThrow(/metadata element missing/);
  });
});

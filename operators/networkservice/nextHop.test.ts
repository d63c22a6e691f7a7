import { defer, EMPTY, of } from 'rxjs';
import { delay } from 'rxjs/operators';
import { describe, expect, it } from 'vitest';
import { Connection, ConnectionEventType, State, type ConnectionEvent, type PathSegment } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import type { PooledChannel } from '../../streams/grpc/channelPool.js';
import { Context } from '../core/context.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { beginClient } from './begin/begin.js';
import { clientConnKey } from './dial.js';
import { heal } from './heal.js';
import { metadata, metadataOf } from './metadata.js';
import { RELEASE_GRACE } from './nextHop.js';
import { upstreamRefresh } from './upstreamRefresh.js';
import { fakeChannel } from '../../test/fakeChannel.js';
import { marbles } from '../../test/marbles.js';

const seg = (name: string, id: string): PathSegment => ({ name, id, token: '', expires: undefined, metrics: {} });
const pathOf = (id: string) => [seg('nsc', id), seg('nsmgr', `nsmgr-${id}`), seg('nse', `nse-${id}`)];
/** What the nsmgr publishes about the client's connection `id`. */
const nsmgrEvent = (id: string, state: State, type = ConnectionEventType.UPDATE): ConnectionEvent => ({
  type,
  connections: { [`nsmgr-${id}`]: Connection.fromPartial({ id: `nsmgr-${id}`, networkService: 'ns', path: { index: 1, pathSegments: pathOf(id) }, state }) },
});

/**
 * The nsc's chain as far as the next hop's stream goes: beginClient → metadata → heal →
 * upstreamRefresh (both with their default source) → a fake next that dials `channel` (as `dial`
 * does) and takes `closeDelay` ms to Close.
 */
function setup(channel: PooledChannel, closeDelay = 0) {
  const requests: string[] = [];
  const next: NetworkServiceHandler = {
    request: (req, ctx) =>
      defer(() => {
        requests.push(req.connection?.id ?? '');
        metadataOf(ctx).set(clientConnKey, channel);
        const conn = Connection.fromPartial(req.connection as Connection);
        conn.state = State.UP;
        conn.path = { index: 0, pathSegments: pathOf(conn.id) };
        return of(conn);
      }),
    close: () => (closeDelay ? of(undefined).pipe(delay(closeDelay)) : of(undefined)),
  };
  const begin = beginClient();
  const handler = chain([begin, metadata(), heal(), upstreamRefresh()], next);
  const request = (id: string) =>
    handler.request(NetworkServiceRequest.fromPartial({ connection: { id, networkService: 'ns', path: { index: 0, pathSegments: [seg('nsc', id)] } } }), Context.background);
  const close = (id: string) => handler.close(Connection.fromPartial({ id }), Context.background);
  const refresh = (id: string) => begin.connections.get(id)?.request() ?? EMPTY;
  return { requests, request, close, refresh };
}

describe('the next hop’s stream, one per connection', () => {
  it('heal and upstreamRefresh at the nsc read one MonitorConnections stream per connection (upstream: two), kept across refreshes', () => {
    marbles(({ flush }) => {
      const { channel, streams } = fakeChannel();
      const t = setup(channel);
      t.request('a').subscribe();
      t.request('b').subscribe();
      expect(streams).toEqual([]); // opened once the Request's answer is out
      flush();
      expect(streams.map((s) => s.selector.pathSegments.map((p) => p.id))).toEqual([['a'], ['b']]);
      t.refresh('a').subscribe();
      flush();
      // upstreamRefresh hears the REFRESH_REQUESTED and re-Requests: still the same stream
      streams[0]?.emit('data', nsmgrEvent('a', State.REFRESH_REQUESTED));
      flush();
      expect(t.requests).toEqual(['a', 'b', 'a', 'a']);
      expect(streams).toHaveLength(2);
      expect(streams.some((s) => s.cancelled)).toBe(false);
      t.close('a').subscribe();
      t.close('b').subscribe();
      flush();
    });
  });

  it('stays open until the Close has returned (the next hop ends it after its DELETE); then it is cancelled if it did not end within the grace', () => {
    marbles(({ cold, flush }) => {
      const { channel, streams } = fakeChannel();
      const t = setup(channel, 10);
      t.request('a').subscribe();
      cold('5ms x').subscribe(() => t.close('a').subscribe());
      // the DELETE during the Close is no news: heal does not reselect
      cold('8ms x').subscribe(() => streams[0]?.emit('data', nsmgrEvent('a', State.UP, ConnectionEventType.DELETE)));
      // the Close returned at 15 ms: the call is held, unheard, for the next hop to end it
      cold(`${14 + RELEASE_GRACE}ms x`).subscribe(() => expect(streams[0]?.cancelled).toBe(false));
      cold(`${16 + RELEASE_GRACE}ms x`).subscribe(() => expect(streams[0]?.cancelled).toBe(true));
      flush();
      expect(t.requests).toEqual(['a']);
      expect(streams).toHaveLength(1);
    });
  });

  it('a stream the next hop ends within the grace after the Close is never cancelled (no RST_STREAM)', () => {
    marbles(({ cold, flush }) => {
      const { channel, streams } = fakeChannel();
      const t = setup(channel, 10);
      t.request('a').subscribe();
      cold('5ms x').subscribe(() => t.close('a').subscribe());
      cold('100ms x').subscribe(() => {
        streams[0]?.emit('data', nsmgrEvent('a', State.UP, ConnectionEventType.DELETE));
        streams[0]?.emit('end');
      });
      flush();
      expect(streams[0]?.cancelled).toBe(false);
      expect(t.requests).toEqual(['a']);
    });
  });

  it('a stream that ended is opened again by the next Request (heal re-Requests after the loss)', () => {
    marbles(({ flush }) => {
      const { channel, streams } = fakeChannel();
      const t = setup(channel);
      t.request('a').subscribe();
      flush();
      streams[0]?.emit('end');
      flush();
      // heal reselected (Close, Request): the Close released the old stream, the Request opened one
      expect(t.requests).toEqual(['a', 'a']);
      expect(streams).toHaveLength(2);
      expect(streams[1]?.cancelled).toBe(false);
      t.close('a').subscribe();
      expect(streams[1]?.cancelled).toBe(false);
      flush();
      expect(streams[1]?.cancelled).toBe(true);
    });
  });
});

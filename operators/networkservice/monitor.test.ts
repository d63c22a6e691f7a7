import { defer, of, throwError, type Observable } from 'rxjs';
import { map } from 'rxjs/operators';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import {
  Connection,
  ConnectionEventType,
  State,
  type ConnectionEvent,
  type MonitorScopeSelector,
  type PathSegment,
} from '../../proto/gen/connection.js';
import { ConnectionContext } from '../../proto/gen/connectioncontext.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { ConnectionMonitor } from '../../streams/monitorConnections.js';
import type { PooledChannel } from '../../streams/grpc/channelPool.js';
import { Context } from '../core/context.js';
import { unavailable } from '../core/errors.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { beginServer } from './begin/begin.js';
import { clientConnKey } from './dial.js';
import { metadata, metadataOf } from './metadata.js';
import { monitor } from './monitor.js';
import { passthroughEvents, RELEASE_GRACE } from './nextHop.js';
import { fakeChannel } from '../../test/fakeChannel.js';
import { marbles } from '../../test/marbles.js';

const seg = (name: string): PathSegment => ({ name, id: `${name}-id`, token: '', expires: undefined, metrics: {} });
const PATH = [seg('nsc'), seg('nsmgr'), seg('fwd'), seg('nse')];
/** A connection as the hop at `index` of PATH sees it. */
const viewAt = (index: number, extra: Partial<Connection> = {}) =>
  Connection.fromPartial({ id: PATH[index]?.id, networkService: 'ns', path: { index, pathSegments: PATH }, ...extra });
const event = (type: ConnectionEventType, ...conns: Connection[]): ConnectionEvent => ({
  type,
  connections: Object.fromEntries(conns.map((c) => [c.id, c])),
});
const { INITIAL_STATE_TRANSFER: INITIAL, UPDATE, DELETE } = ConnectionEventType;

/** `UPDATE nsmgr-id:UP` — one line per event, enough to read a marble diagram. */
const describeEvent = (e: ConnectionEvent) =>
  `${ConnectionEventType[e.type]}${Object.values(e.connections)
    .map((c) => ` ${c.id}:${State[c.state]}`)
    .join('')}`;
const summary = map(describeEvent);

describe('ConnectionMonitor', () => {
  const all: MonitorScopeSelector = { pathSegments: [], networkServices: [] };

  it('sends INITIAL_STATE_TRANSFER first, even when there is nothing to report', () => {
    marbles(({ expectObservable }) => {
      const cm = new ConnectionMonitor();
      expectObservable(cm.monitorConnections(all).pipe(summary)).toBe('i', { i: 'INITIAL_STATE_TRANSFER' });
    });
  });

  it('the initial transfer holds the current matching connections, later changes follow', () => {
    marbles(({ cold, expectObservable }) => {
      const cm = new ConnectionMonitor();
      cm.update(viewAt(1));
      cm.update(viewAt(0, { id: 'other', path: { index: 0, pathSegments: [seg('other')] } }));
      const byName = { pathSegments: [{ ...seg('nsmgr'), id: '' }], networkServices: [] };
      cold('--u').subscribe(() => cm.update(viewAt(1, { state: State.DOWN })));
      cold('----d').subscribe(() => cm.delete(viewAt(1)));
      cold('------n').subscribe(() => cm.update(viewAt(1)));
      expectObservable(cm.monitorConnections(byName).pipe(summary)).toBe('i-u-d-n', {
        i: 'INITIAL_STATE_TRANSFER nsmgr-id:UP',
        u: 'UPDATE nsmgr-id:DOWN',
        d: 'DELETE nsmgr-id:UP',
        n: 'UPDATE nsmgr-id:UP',
      });
    });
  });

  it('a selector pinned to one segment id ends after that connection’s DELETE', () => {
    marbles(({ cold, expectObservable }) => {
      const cm = new ConnectionMonitor();
      cm.update(viewAt(1));
      const pinned = { pathSegments: [{ ...seg('nsmgr'), name: '' }], networkServices: [] };
      cold('--u').subscribe(() => cm.update(viewAt(1, { state: State.DOWN })));
      cold('----d').subscribe(() => cm.delete(viewAt(1)));
      expectObservable(cm.monitorConnections(pinned).pipe(summary)).toBe('i-u-(d|)', {
        i: 'INITIAL_STATE_TRANSFER nsmgr-id:UP',
        u: 'UPDATE nsmgr-id:DOWN',
        d: 'DELETE nsmgr-id:UP',
      });
    });
  });

  it('events that the selector filters down to nothing are not sent', () => {
    marbles(({ cold, expectObservable }) => {
      const cm = new ConnectionMonitor();
      const selector = { pathSegments: [], networkServices: ['wanted'] };
      cold('-a').subscribe(() => cm.update(viewAt(1, { networkService: 'other' })));
      cold('--b').subscribe(() => cm.update(viewAt(1, { id: 'x', networkService: 'wanted' })));
      cold('---c').subscribe(() => cm.delete(viewAt(1, { networkService: 'other' })));
      expectObservable(cm.monitorConnections(selector).pipe(summary)).toBe('i-b', { i: 'INITIAL_STATE_TRANSFER', b: 'UPDATE x:UP' });
    });
  });

  it('keeps its store by id: DELETE removes, UPDATE replaces, and INITIAL_STATE_TRANSFER is never forwarded', () => {
    marbles(({ cold, expectObservable }) => {
      const cm = new ConnectionMonitor();
      cm.update(viewAt(1));
      cm.update(viewAt(2));
      cm.delete(viewAt(2));
      expect(cm.size).toBe(1);
      cold('-x').subscribe(() => cm.send(event(INITIAL, viewAt(3))));
      expectObservable(cm.monitorConnections(all).pipe(summary)).toBe('i', { i: 'INITIAL_STATE_TRANSFER nsmgr-id:UP' });
      cold('--x').subscribe(() => expect(cm.size).toBe(1));
    });
  });

  it('complete() ends every subscriber’s stream', () => {
    marbles(({ cold, expectObservable }) => {
      const cm = new ConnectionMonitor();
      cold('---x').subscribe(() => cm.complete());
      expectObservable(cm.monitorConnections(all).pipe(summary)).toBe('i--|', { i: 'INITIAL_STATE_TRANSFER' });
    });
  });
});

describe('ConnectionMonitor streams pinned to a segment id', () => {
  const pinnedTo = (id: string): MonitorScopeSelector => ({ pathSegments: [{ name: '', id, token: '', expires: undefined, metrics: {} }], networkServices: [] });
  const through = (id: string, ...names: string[]) => Connection.fromPartial({ id, networkService: 'ns', path: { index: 1, pathSegments: names.map(seg) } });

  it('hear only the connections whose path holds their id, as their paths change', () => {
    marbles(({ cold, expectObservable }) => {
      const cm = new ConnectionMonitor();
      cm.update(through('a', 'nsc', 'nsmgr'));
      cm.update(through('b', 'other', 'nsmgr'));
      cold('-x').subscribe(() => cm.update(through('b', 'nsc', 'nsmgr')));
      cold('--y').subscribe(() => cm.update(through('a', 'elsewhere', 'nsmgr')));
      cold('---z').subscribe(() => cm.update(through('a', 'nsc', 'nsmgr', 'fwd')));
      cold('----w').subscribe(() => cm.delete(through('b', 'nsc', 'nsmgr')));
      expectObservable(cm.monitorConnections(pinnedTo('nsc-id')).pipe(summary)).toBe('ix-z(w|)', {
        i: 'INITIAL_STATE_TRANSFER a:UP',
        x: 'UPDATE b:UP',
        z: 'UPDATE a:UP',
        w: 'DELETE b:UP',
      });
    });
  });

  it('one event reaches each stream pinned to an id its connections hold, with just those connections', () => {
    const cm = new ConnectionMonitor();
    const heard: string[] = [];
    cm.monitorConnections(pinnedTo('nsc-id')).pipe(summary).subscribe((e) => heard.push(`nsc: ${e}`));
    cm.monitorConnections(pinnedTo('fwd-id')).pipe(summary).subscribe((e) => heard.push(`fwd: ${e}`));
    cm.send(event(UPDATE, through('a', 'nsc', 'nsmgr', 'fwd'), through('b', 'x', 'fwd'), through('c', 'y')));
    expect(heard).toEqual(['nsc: INITIAL_STATE_TRANSFER', 'fwd: INITIAL_STATE_TRANSFER', 'nsc: UPDATE a:UP', 'fwd: UPDATE a:UP b:UP']);
  });

  it('an id is watched only while a stream watches it: unsubscribing, a DELETE and complete() all let it go', () => {
    const cm = new ConnectionMonitor();
    cm.update(through('a', 'nsc', 'nsmgr'));
    const first = cm.monitorConnections(pinnedTo('nsc-id')).subscribe();
    const second = cm.monitorConnections(pinnedTo('nsc-id')).subscribe();
    const ended = cm.monitorConnections(pinnedTo('x-id')).subscribe();
    expect(cm.pinnedWatches).toBe(2);
    first.unsubscribe();
    expect(cm.pinnedWatches).toBe(2);
    cm.delete(through('a', 'nsc', 'nsmgr'));
    expect(second.closed).toBe(true);
    expect(cm.pinnedWatches).toBe(1);
    cm.complete();
    expect(ended.closed).toBe(true);
    expect(cm.pinnedWatches).toBe(0);
    const heard: string[] = [];
    const late = cm.monitorConnections(pinnedTo('nsc-id')).pipe(summary).subscribe({ next: (e) => heard.push(e), complete: () => heard.push('end') });
    expect(heard).toEqual(['INITIAL_STATE_TRANSFER', 'end']);
    expect(late.closed).toBe(true);
    expect(cm.pinnedWatches).toBe(0);
  });
});

describe('matchesSelector (via ConnectionMonitor filtering)', () => {
  const matches = (conn: Connection | undefined, selector: Partial<MonitorScopeSelector>) => {
    const cm = new ConnectionMonitor();
    if (conn) cm.update(conn);
    let initial: ConnectionEvent | undefined;
    cm.monitorConnections({ pathSegments: [], networkServices: [], ...selector }).subscribe((e) => (initial ??= e));
    return Object.keys(initial?.connections ?? {}).length === 1;
  };
  const sel = (name: string, id = '', token = ''): PathSegment => ({ name, id, token, expires: undefined, metrics: {} });

  it('an empty selector matches everything', () => {
    expect(matches(viewAt(1), {})).toBe(true);
  });

  it('selector segments must appear as a contiguous run of the path', () => {
    expect(matches(viewAt(1), { pathSegments: [sel('nsmgr'), sel('fwd')] })).toBe(true);
    expect(matches(viewAt(1), { pathSegments: [sel('nsc'), sel('nsmgr'), sel('fwd'), sel('nse')] })).toBe(true);
    expect(matches(viewAt(1), { pathSegments: [sel('nsc'), sel('fwd')] })).toBe(false); // not contiguous
    expect(matches(viewAt(1), { pathSegments: [sel('fwd'), sel('nsmgr')] })).toBe(false); // wrong order
  });

  it('an empty selector field is a wildcard; set fields must be equal', () => {
    expect(matches(viewAt(1), { pathSegments: [sel('', 'fwd-id')] })).toBe(true);
    expect(matches(viewAt(1), { pathSegments: [sel('fwd', 'nsmgr-id')] })).toBe(false);
    expect(matches(viewAt(1), { pathSegments: [sel('', '')] })).toBe(true);
    expect(matches(viewAt(1), { pathSegments: [sel('fwd', '', 'some-token')] })).toBe(false);
  });

  it('network_services must include the connection’s service', () => {
    expect(matches(viewAt(1), { networkServices: ['a', 'ns'] })).toBe(true);
    expect(matches(viewAt(1), { networkServices: ['a'] })).toBe(false);
    expect(matches(viewAt(1), { networkServices: ['ns'], pathSegments: [sel('nope')] })).toBe(false);
  });

  it('a selector longer than the path never matches', () => {
    const short = Connection.fromPartial({ id: 'x', path: { index: 0, pathSegments: [seg('nsc')] } });
    expect(matches(short, { pathSegments: [sel(''), sel('')] })).toBe(false);
    expect(matches(Connection.fromPartial({ id: 'y' }), { pathSegments: [sel('')] })).toBe(false);
  });
});

describe('passthroughEvents', () => {
  // this hop is the nsmgr (index 1); the next hop (fwd, index 2) reports about the same path
  const ours = viewAt(1);

  it('republishes a downstream change as this hop’s view: own id and index, downstream path and context', () => {
    marbles(({ hot, expectObservable }) => {
      const downstream = hot<ConnectionEvent>('--u', { u: event(UPDATE, viewAt(2, { context: ConnectionContext.fromPartial({ MTU: 1400 }) })) });
      expectObservable(passthroughEvents(downstream, ours).pipe(map((c) => `${c.id}@${c.path?.index} mtu=${c.context?.MTU} ${State[c.state]}`))).toBe(
        '--v',
        { v: 'nsmgr-id@1 mtu=1400 UP' },
      );
    });
  });

  it('DELETE downstream becomes DOWN', () => {
    marbles(({ hot, expectObservable }) => {
      const downstream = hot<ConnectionEvent>('-d', { d: event(DELETE, viewAt(2)) });
      expectObservable(passthroughEvents(downstream, ours).pipe(map((c) => `${c.id} ${State[c.state]}`))).toBe('-x', { x: 'nsmgr-id DOWN' });
    });
  });

  it('drops unchanged views, initial transfers with the same state, and other connections', () => {
    marbles(({ hot, expectObservable }) => {
      const otherPath = [seg('nsc'), { ...seg('nsmgr'), id: 'someone-else' }, seg('fwd')];
      const downstream = hot<ConnectionEvent>('-i-s-o-f-u', {
        i: event(INITIAL, viewAt(2, { context: ConnectionContext.fromPartial({ MTU: 9000 }) })), // initial transfer, same state: ignored
        s: event(UPDATE, viewAt(2)), // identical view: nothing new
        o: event(UPDATE, Connection.fromPartial({ id: 'fwd-id', path: { index: 2, pathSegments: otherPath } })),
        f: event(UPDATE, viewAt(3, { state: State.DOWN })), // two hops further down: not ours
        u: event(UPDATE, viewAt(2, { state: State.DOWN })),
      });
      expectObservable(passthroughEvents(downstream, ours).pipe(map((c) => State[c.state]))).toBe('---------u', { u: 'DOWN' });
    });
  });

  it('an initial transfer with another state is passed on; repeats of the new view are not', () => {
    marbles(({ hot, expectObservable }) => {
      const downstream = hot<ConnectionEvent>('-i-u-x', {
        i: event(INITIAL, viewAt(2, { state: State.DOWN })),
        u: event(UPDATE, viewAt(2, { state: State.DOWN })),
        x: event(UPDATE, viewAt(2, { state: State.UP })),
      });
      expectObservable(passthroughEvents(downstream, ours).pipe(map((c) => State[c.state]))).toBe('-i---x', { i: 'DOWN', x: 'UP' });
    });
  });

  it('stream errors pass through (the monitor element turns them into DOWN)', () => {
    marbles(({ hot, expectObservable }) => {
      const downstream = hot<ConnectionEvent>('--#', undefined, unavailable('gone'));
      expectObservable(passthroughEvents(downstream, ours)).toBe('--#', undefined, unavailable('gone'));
    });
  });
});

/**
 * chain([beginServer, metadata, monitor(cm), fake next]) for the nsmgr (index 1 of PATH). The fake
 * next answers with the full path, dials `channel` (passthrough) if given, and fails the calls
 * listed in `failAt`.
 */
function setup(
  scheduler: TestScheduler,
  options: { channel?: PooledChannel | ((n: number) => PooledChannel); failAt?: readonly number[]; onClose?: () => void } = {},
) {
  const cm = new ConnectionMonitor();
  let n = 0;
  const next: NetworkServiceHandler = {
    request: (req, ctx): Observable<Connection> =>
      defer(() => {
        const i = n++;
        if (options.failAt?.includes(i)) return throwError(() => unavailable('next hop failed'));
        const channel = typeof options.channel === 'function' ? options.channel(i) : options.channel;
        if (channel) metadataOf(ctx).set(clientConnKey, channel);
        const conn = Connection.fromPartial(req.connection as Connection);
        conn.path = { index: 1, pathSegments: PATH };
        return of(conn);
      }),
    close: () =>
      defer(() => {
        options.onClose?.();
        return of(undefined);
      }),
  };
  const meta = metadata();
  const handler = chain([beginServer({ scheduler }), meta, monitor(cm, { scheduler })], next);
  const request = () =>
    NetworkServiceRequest.fromPartial({ connection: { id: 'nsmgr-id', networkService: 'ns', path: { index: 1, pathSegments: PATH.slice(0, 2) } } });
  const events = () => cm.monitorConnections({ pathSegments: [], networkServices: [] }).pipe(summary);
  return { cm, handler, request, events, meta };
}

describe('monitor element', () => {
  it('publishes UPDATE after a Request and DELETE after a Close', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const t = setup(scheduler);
      cold('-x').subscribe(() => t.handler.request(t.request(), Context.background).subscribe());
      cold('---x').subscribe(() => t.handler.close(viewAt(1), Context.background).subscribe());
      expectObservable(t.events()).toBe('iu-d', { i: 'INITIAL_STATE_TRANSFER', u: 'UPDATE nsmgr-id:UP', d: 'DELETE nsmgr-id:UP' });
      cold('----x').subscribe(() => expect(t.cm.size).toBe(0));
    });
  });

  it('a failed first Request publishes nothing', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const t = setup(scheduler, { failAt: [0] });
      cold('-x').subscribe(() => t.handler.request(t.request(), Context.background).subscribe({ error: () => undefined }));
      expectObservable(t.events()).toBe('i', { i: 'INITIAL_STATE_TRANSFER' });
    });
  });

  it('a failed re-request of an existing passthrough connection publishes DOWN', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { channel } = fakeChannel();
      const t = setup(scheduler, { channel, failAt: [1] });
      cold('-x').subscribe(() => t.handler.request(t.request(), Context.background).subscribe());
      cold('---x').subscribe(() => t.handler.request(t.request(), Context.background).subscribe({ error: () => undefined }));
      expectObservable(t.events()).toBe('iu-d', { i: 'INITIAL_STATE_TRANSFER', u: 'UPDATE nsmgr-id:UP', d: 'UPDATE nsmgr-id:DOWN' });
    });
  });

  it('a failed re-request of an established connection without a downstream monitor publishes DOWN too', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const t = setup(scheduler, { failAt: [1] });
      cold('-x').subscribe(() => t.handler.request(t.request(), Context.background).subscribe());
      cold('---x').subscribe(() => t.handler.request(t.request(), Context.background).subscribe({ error: () => undefined }));
      expectObservable(t.events()).toBe('iu-d', { i: 'INITIAL_STATE_TRANSFER', u: 'UPDATE nsmgr-id:UP', d: 'UPDATE nsmgr-id:DOWN' });
    });
  });

  it('a passthrough hop watches the next hop for its own segment and republishes its view', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { channel, streams } = fakeChannel();
      const t = setup(scheduler, { channel });
      t.handler.request(t.request(), Context.background).subscribe();
      cold('--x').subscribe(() => streams[0]?.emit('data', event(UPDATE, viewAt(2, { context: ConnectionContext.fromPartial({ MTU: 1400 }) }))));
      let published: Connection | undefined;
      t.cm.monitorConnections({ pathSegments: [], networkServices: [] }).subscribe((e) => (published = Object.values(e.connections)[0]));
      expectObservable(t.events()).toBe('i-u', { i: 'INITIAL_STATE_TRANSFER nsmgr-id:UP', u: 'UPDATE nsmgr-id:UP' });
      cold('---x').subscribe(() => {
        expect(streams).toHaveLength(1);
        expect(streams[0]?.selector.pathSegments.map((s) => [s.name, s.id])).toEqual([['nsmgr', 'nsmgr-id']]);
        expect(published?.context?.MTU).toBe(1400);
        expect(published?.path?.index).toBe(1);
      });
    });
  });

  it('downstream DELETE is published as DOWN', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { channel, streams } = fakeChannel();
      const t = setup(scheduler, { channel });
      t.handler.request(t.request(), Context.background).subscribe();
      cold('--x').subscribe(() => streams[0]?.emit('data', event(DELETE, viewAt(2))));
      expectObservable(t.events()).toBe('i-d', { i: 'INITIAL_STATE_TRANSFER nsmgr-id:UP', d: 'UPDATE nsmgr-id:DOWN' });
    });
  });

  it('losing the downstream stream (error) is published as DOWN', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { channel, streams } = fakeChannel();
      const t = setup(scheduler, { channel });
      t.handler.request(t.request(), Context.background).subscribe();
      cold('--x').subscribe(() => streams[0]?.emit('error', Object.assign(new Error('14 UNAVAILABLE'), { code: 14, details: 'gone' })));
      expectObservable(t.events()).toBe('i-d', { i: 'INITIAL_STATE_TRANSFER nsmgr-id:UP', d: 'UPDATE nsmgr-id:DOWN' });
    });
  });

  it('the downstream stream ending without a DELETE (next hop shut down) is published as DOWN', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { channel, streams } = fakeChannel();
      const t = setup(scheduler, { channel });
      t.handler.request(t.request(), Context.background).subscribe();
      cold('--x').subscribe(() => streams[0]?.emit('end'));
      expectObservable(t.events()).toBe('i-d', { i: 'INITIAL_STATE_TRANSFER nsmgr-id:UP', d: 'UPDATE nsmgr-id:DOWN' });
    });
  });

  it('a stream that ends after the DELETE it reported publishes DOWN only once', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { channel, streams } = fakeChannel();
      const t = setup(scheduler, { channel });
      t.handler.request(t.request(), Context.background).subscribe();
      cold('--x').subscribe(() => streams[0]?.emit('data', event(DELETE, viewAt(2))));
      cold('---x').subscribe(() => streams[0]?.emit('end'));
      expectObservable(t.events()).toBe('i-d', { i: 'INITIAL_STATE_TRANSFER nsmgr-id:UP', d: 'UPDATE nsmgr-id:DOWN' });
    });
  });

  it('Close stops watching the next hop: later events are ignored, and the stream is cancelled after the grace', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { channel, streams } = fakeChannel();
      const t = setup(scheduler, { channel });
      t.handler.request(t.request(), Context.background).subscribe();
      cold('-x').subscribe(() => t.handler.close(viewAt(1), Context.background).subscribe());
      cold('--x').subscribe(() => {
        expect(streams[0]?.cancelled).toBe(false);
        streams[0]?.emit('data', event(UPDATE, { ...viewAt(2), state: State.DOWN }));
      });
      cold(`${RELEASE_GRACE}ms x`).subscribe(() => expect(streams[0]?.cancelled).toBe(false));
      cold(`${RELEASE_GRACE + 2}ms x`).subscribe(() => {
        expect(streams[0]?.cancelled).toBe(true);
        streams[0]?.emit('error', new Error('cancelled'));
      });
      expectObservable(t.events()).toBe('id', { i: 'INITIAL_STATE_TRANSFER nsmgr-id:UP', d: 'DELETE nsmgr-id:UP' });
      cold('---x').subscribe(() => expect(t.meta.connections.size).toBe(0));
    });
  });

  it('a re-request through the same next hop keeps the stream and watches the new view', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { channel, streams } = fakeChannel();
      const t = setup(scheduler, { channel });
      t.handler.request(t.request(), Context.background).subscribe();
      cold('-x').subscribe(() => t.handler.request(t.request(), Context.background).subscribe());
      cold('--x').subscribe(() => {
        expect(streams).toHaveLength(1);
        expect(streams[0]?.cancelled).toBe(false);
        streams[0]?.emit('data', event(DELETE, viewAt(2)));
      });
      expectObservable(t.events()).toBe('iud', { i: 'INITIAL_STATE_TRANSFER nsmgr-id:UP', u: 'UPDATE nsmgr-id:UP', d: 'UPDATE nsmgr-id:DOWN' });
    });
  });

  it('a re-request through another next hop replaces the watch: new one opened, old stream cancelled after the grace', () => {
    marbles(({ cold }, scheduler) => {
      const first = fakeChannel();
      const second = fakeChannel();
      const t = setup(scheduler, { channel: (n) => (n === 0 ? first.channel : second.channel) });
      t.handler.request(t.request(), Context.background).subscribe();
      cold('-x').subscribe(() => t.handler.request(t.request(), Context.background).subscribe());
      cold('--x').subscribe(() => {
        expect(first.streams[0]?.cancelled).toBe(false);
        expect(second.streams).toHaveLength(1);
        expect(second.streams[0]?.cancelled).toBe(false);
      });
      cold(`${RELEASE_GRACE + 2}ms x`).subscribe(() => expect(first.streams[0]?.cancelled).toBe(true));
      cold(`${RELEASE_GRACE + 3}ms x`).subscribe(() => t.handler.close(viewAt(1), Context.background).subscribe());
      cold(`${2 * RELEASE_GRACE + 3}ms x`).subscribe(() => expect(second.streams[0]?.cancelled).toBe(false));
      cold(`${2 * RELEASE_GRACE + 4}ms x`).subscribe(() => expect(second.streams[0]?.cancelled).toBe(true));
    });
  });

  it('the next hop’s DELETE caused by this hop’s own Close is not republished as DOWN', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { channel, streams } = fakeChannel();
      // the next hop answers the Close and reports the DELETE on its monitor stream meanwhile
      const t = setup(scheduler, { channel, onClose: () => streams[0]?.emit('data', event(DELETE, viewAt(2))) });
      t.handler.request(t.request(), Context.background).subscribe();
      cold('--x').subscribe(() => t.handler.close(viewAt(1), Context.background).subscribe());
      expectObservable(t.events()).toBe('i-d', { i: 'INITIAL_STATE_TRANSFER nsmgr-id:UP', d: 'DELETE nsmgr-id:UP' });
    });
  });
});

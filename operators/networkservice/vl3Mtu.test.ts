import { defer, NEVER, of } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { Connection, ConnectionEventType, State, type ConnectionEvent, type PathSegment } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { ConnectionMonitor } from '../../streams/monitorConnections.js';
import { endpoint } from '../chains/endpoint.js';
import { Context } from '../core/context.js';
import { asElement, chain, type NetworkServiceElement, type NetworkServiceHandler } from '../core/networkservice.js';
import { msToTimestamp } from '../core/path.js';
import { unsignedTokenGenerator } from '../tools/token.js';
import { marbles } from '../../test/marbles.js';
import { sync } from '../../test/sync.js';
import { beginClient } from './begin/begin.js';
import { metadata } from './metadata.js';
import { monitor } from './monitor.js';
import { ownSegmentSelector } from './nextHop.js';
import { upstreamRefresh } from './upstreamRefresh.js';
import { vl3MtuClient } from './vl3MtuClient.js';
import { vl3MtuServer } from './vl3MtuServer.js';

const seg = (name: string, id: string, expiresMs?: number): PathSegment => ({
  name,
  id,
  token: '',
  expires: expiresMs === undefined ? undefined : msToTimestamp(expiresMs),
  metrics: {},
});
const request = (id: string, mtu = 0) =>
  NetworkServiceRequest.fromPartial({ connection: { id, networkService: 'vl3', path: { index: 0, pathSegments: [seg('nsc', id)] }, context: { MTU: mtu } } });

/** A connection named by its client's id (an endpoint's side of it has an id of its own). */
const clientId = (c: Connection) => c.path?.pathSegments[0]?.id ?? c.id;

/**
 * The rest of the path: answers with the MTU asked for, or less where `limits` says the path of
 * that connection is smaller (a forwarder's interface). Records [client id, MTU asked].
 */
function path(limits: Record<string, number> = {}) {
  const asked: [string, number][] = [];
  const handler: NetworkServiceHandler = {
    request: (r) =>
      defer(() => {
        const conn = Connection.fromPartial(r.connection ?? {});
        const mtu = conn.context?.MTU ?? 0;
        asked.push([clientId(conn), mtu]);
        const limit = limits[clientId(conn)];
        if (conn.context && limit !== undefined && limit < mtu) conn.context.MTU = limit;
        return of(conn);
      }),
    close: () => of(undefined),
  };
  return { handler, asked };
}

/** What a monitor subscriber hears: [type, id, state, MTU] per connection. */
function heard(cm: ConnectionMonitor) {
  const events: [string, string, string, number][] = [];
  cm.monitorConnections({ pathSegments: [], networkServices: [] }).subscribe((e: ConnectionEvent) => {
    for (const c of Object.values(e.connections)) events.push([ConnectionEventType[e.type], clientId(c), State[c.state], c.context?.MTU ?? 0]);
  });
  return events;
}

describe('vl3MtuServer', () => {
  it('asks for the minimum; a lower answer lowers it and publishes every other connection REFRESH_REQUESTED with it; Close forgets', () => {
    const cm = new ConnectionMonitor();
    const events = heard(cm);
    const server = vl3MtuServer(cm);
    const limits: Record<string, number> = { b: 1450 };
    const next = path(limits);
    const handler = chain([monitor(cm), server], next.handler);

    const a = sync(handler.request(request('a'), Context.background));
    expect(a.context?.MTU).toBe(9000);
    // more than the minimum is asked down to it
    const x = sync(handler.request(request('x', 16000), Context.background));
    expect(next.asked).toEqual([
      ['a', 9000],
      ['x', 9000],
    ]);
    expect(server.minMtu).toBe(9000);
    const b = sync(handler.request(request('b', 9000), Context.background));
    expect(b.context?.MTU).toBe(1450);
    expect(server.minMtu).toBe(1450);
    // a and x hear it, b itself does not; b's own UPDATE follows
    expect(events).toEqual([
      ['UPDATE', 'a', 'UP', 9000],
      ['UPDATE', 'x', 'UP', 9000],
      ['UPDATE', 'a', 'REFRESH_REQUESTED', 1450],
      ['UPDATE', 'x', 'REFRESH_REQUESTED', 1450],
      ['UPDATE', 'b', 'UP', 1450],
    ]);
    expect(cm.get('a')).toMatchObject({ state: State.REFRESH_REQUESTED, context: { MTU: 1450 } });

    // a's client refreshes with what it had: it is asked down to the minimum, and nobody else hears of it
    events.length = 0;
    const refreshed = sync(handler.request(NetworkServiceRequest.fromPartial({ connection: a }), Context.background));
    expect(next.asked.at(-1)).toEqual(['a', 1450]);
    expect(refreshed.context?.MTU).toBe(1450);
    expect(events).toEqual([['UPDATE', 'a', 'UP', 1450]]);

    // b closed: it is not asked when x's path shrinks; nor is x itself
    sync(handler.close(b, Context.background));
    events.length = 0;
    limits.x = 1400;
    sync(handler.request(NetworkServiceRequest.fromPartial({ connection: x }), Context.background));
    expect(next.asked.at(-1)).toEqual(['x', 1450]);
    expect(server.minMtu).toBe(1400);
    expect(events).toEqual([
      ['UPDATE', 'a', 'REFRESH_REQUESTED', 1400],
      ['UPDATE', 'x', 'UP', 1400],
    ]);
    expect([...server.connections.keys()]).toEqual(['a', 'x']);
    for (const id of ['a', 'x']) sync(handler.close(Connection.fromPartial({ id }), Context.background));
    expect(server.connections.size).toBe(0);
  });

  it('an answer without an MTU does not lower the minimum', () => {
    const cm = new ConnectionMonitor();
    const server = vl3MtuServer(cm);
    const zero: NetworkServiceHandler = { request: (r) => of(Connection.fromPartial({ ...r.connection, context: { MTU: 0 } })), close: () => of(undefined) };
    sync(chain([server], zero).request(request('a'), Context.background));
    expect(server.minMtu).toBe(9000);
  });

  it('behind an endpoint sharing its monitor: the other clients hear REFRESH_REQUESTED and Request again with the lower MTU', () => {
    marbles((helpers, scheduler) => {
      const cm = new ConnectionMonitor();
      const events = heard(cm);
      const next = path({ b: 1450 });
      const hop = endpoint({
        name: 'nse',
        token: unsignedTokenGenerator('nse', 600_000, () => scheduler.now()),
        monitor: cm,
        additional: [vl3MtuServer(cm), asElement(next.handler)],
        scheduler,
      });
      expect(hop.monitor).toBe(cm);
      const a = nsc(scheduler, cm, hop.handler);
      const b = nsc(scheduler, cm, hop.handler);
      a.request('a').subscribe();
      helpers.cold('5ms x').subscribe(() => b.request('b').subscribe());
      helpers.cold('10ms x').subscribe(() => {
        a.close('a').subscribe();
        b.close('b').subscribe();
      });
      helpers.flush();
      expect(next.asked).toEqual([
        ['a', 9000],
        ['b', 9000],
        ['a', 1450],
      ]);
      expect(events).toEqual([
        ['UPDATE', 'a', 'UP', 9000],
        ['UPDATE', 'a', 'REFRESH_REQUESTED', 1450],
        // a's client Requests again while b's answer is on its way back
        ['UPDATE', 'a', 'UP', 1450],
        ['UPDATE', 'b', 'UP', 1450],
        ['DELETE', 'a', 'UP', 1450],
        ['DELETE', 'b', 'UP', 1450],
      ]);
      expect(cm.size).toBe(0);
    });
  });
});

/** A client (an NSC) whose upstreamRefresh watches its own segment on `cm`. */
function nsc(scheduler: TestScheduler, cm: ConnectionMonitor, nse: NetworkServiceHandler) {
  const handler = chain([beginClient({ scheduler }), metadata(), upstreamRefresh({ scheduler, monitor: (conn) => cm.monitorConnections(ownSegmentSelector(conn)) })], nse);
  return {
    request: (id: string) =>
      handler.request(
        NetworkServiceRequest.fromPartial({ connection: { id, networkService: 'vl3', path: { index: 0, pathSegments: [seg('nsc', id, 600_000)] } } }),
        Context.background,
      ),
    close: (id: string) => handler.close(Connection.fromPartial({ id }), Context.background),
  };
}

describe('vl3MtuClient', () => {
  it('asks for its minimum; a lower answer lowers it and the other connections of the chain Request again with it', () => {
    marbles((helpers, scheduler) => {
      const next = path({ b: 1450 });
      const below: NetworkServiceElement[] = [vl3MtuClient()];
      const handler = chain([beginClient({ scheduler }), metadata(), upstreamRefresh({ scheduler, localNotifications: true, monitor: () => NEVER }), ...below], next.handler);
      handler.request(request('a'), Context.background).subscribe();
      handler.request(request('c', 16000), Context.background).subscribe();
      helpers.cold('3ms x').subscribe(() => handler.request(request('b', 9200), Context.background).subscribe());
      helpers.cold('6ms x').subscribe(() => handler.request(request('d', 1500), Context.background).subscribe());
      helpers.flush();
      expect(next.asked).toEqual([
        ['a', 9000],
        ['c', 9000],
        ['b', 9000],
        // b's answer: a and c refresh, b does not
        ['a', 1450],
        ['c', 1450],
        ['d', 1450],
      ]);
    });
  });

  it('without an upstreamRefresh above it only lowers its minimum', () => {
    const next = path({ a: 1400 });
    const handler = chain([vl3MtuClient()], next.handler);
    expect(sync(handler.request(request('a'), Context.background)).context?.MTU).toBe(1400);
    sync(handler.request(request('b'), Context.background));
    expect(next.asked).toEqual([
      ['a', 9000],
      ['b', 1400],
    ]);
  });
});

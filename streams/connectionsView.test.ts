import { map } from 'rxjs/operators';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { Connection, ConnectionEventType, State, type ConnectionEvent } from '../proto/gen/connection.js';
import { connectionsView, type MeshView } from './connectionsView.js';

const conn = (forwarder: string, rx: number, state = State.UP) =>
  Connection.fromPartial({
    id: 'at-nsmgr',
    networkService: 'icmp-responder',
    state,
    path: { pathSegments: [{ name: 'nsc', id: 'c1' }, { name: 'nsmgr-0', id: 'm' }, { name: forwarder, id: 'f', metrics: { client_rx_bytes: String(rx), client_interface: 'icmp-respo-1', server_interface: 'nsm-1' } }, { name: 'icmp-responder', id: 'e' }] },
    context: { ipContext: { srcIpAddrs: ['169.254.1.1/32'], dstIpAddrs: ['169.254.1.0/32'] } },
  });
const event = (type: ConnectionEventType, ...cs: Connection[]): ConnectionEvent => ({ type, connections: Object.fromEntries(cs.map((c) => [c.id, c])) });

describe('connectionsView', () => {
  const scheduler = () => new TestScheduler((a, b) => expect(a).toEqual(b));

  it('shows each connection with its path, addresses, interfaces and per-hop rates; a new path is a heal event', () => {
    const s = scheduler();
    s.run(({ cold }) => {
      const monitor = cold<ConnectionEvent>('a 999ms b 999ms c', {
        a: event(ConnectionEventType.INITIAL_STATE_TRANSFER, conn('forwarder-0', 1000)),
        b: event(ConnectionEventType.UPDATE, conn('forwarder-0', 3000)),
        c: event(ConnectionEventType.UPDATE, conn('forwarder-1', 500)),
      });
      const views: MeshView[] = [];
      connectionsView(['unix:///nsmgr.sock'], () => monitor, { scheduler: s }).subscribe((v) => views.push(v));
      s.flush();
      expect(views.map((v) => v.connections.length)).toEqual([1, 1, 1]);
      const [first, second, third] = views.map((v) => v.connections[0]!);
      expect(first).toMatchObject({ id: 'c1', networkService: 'icmp-responder', state: 'UP', path: ['nsc', 'nsmgr-0', 'forwarder-0', 'icmp-responder'], pathInterfaces: [{}, {}, { client: 'icmp-respo-1', server: 'nsm-1' }, {}], srcIps: ['169.254.1.1/32'], dstIps: ['169.254.1.0/32'], interfaces: ['nsm-1', 'icmp-respo-1'], events: [] });
      expect(second?.hops).toEqual([{ name: 'forwarder-0', counters: { client_rx_bytes: 3000 }, rates: { client_rx_bytes: 2000 } }]);
      expect(third?.events).toEqual([{ at: 2000, what: 'path now nsc → nsmgr-0 → forwarder-1 → icmp-responder (was nsc → nsmgr-0 → forwarder-0 → icmp-responder)' }]);
      expect(views[2]?.sources).toEqual([{ url: 'unix:///nsmgr.sock', up: true }]);
    });
  });

  it('one connection reported by two nsmgrs is one entry (the longest path); a DELETE from both removes it', () => {
    const s = scheduler();
    s.run(({ cold, expectObservable }) => {
      const short = Connection.fromPartial({ ...conn('forwarder-0', 0), path: { pathSegments: [{ name: 'nsc', id: 'c1' }, { name: 'nsmgr-0', id: 'm' }] } });
      const streams: Record<string, ReturnType<typeof cold<ConnectionEvent>>> = {
        a: cold('a 9ms d', { a: event(ConnectionEventType.INITIAL_STATE_TRANSFER, short), d: event(ConnectionEventType.DELETE, short) }),
        b: cold('-a 9ms d', { a: event(ConnectionEventType.INITIAL_STATE_TRANSFER, conn('forwarder-0', 0)), d: event(ConnectionEventType.DELETE, conn('forwarder-0', 0)) }),
      };
      expectObservable(connectionsView(['a', 'b'], (url) => streams[url]!, { scheduler: s }).pipe(map((v) => v.connections.map((c) => `${c.id}:${c.path.length}`).join(','))), '^ 20ms !').toBe('ab 8ms cd', {
        a: 'c1:2',
        b: 'c1:4',
        c: 'c1:4',
        d: '',
      });
    });
  });

  it('a reselecting heal (Close, then Request through another forwarder) continues the connection’s view with what happened', () => {
    const s = scheduler();
    s.run(({ cold }) => {
      const monitor = cold<ConnectionEvent>('a 99ms d 9ms u', {
        a: event(ConnectionEventType.INITIAL_STATE_TRANSFER, conn('forwarder-0', 100)),
        d: event(ConnectionEventType.DELETE, conn('forwarder-0', 100)),
        u: event(ConnectionEventType.UPDATE, conn('forwarder-new', 0)),
      });
      const views: MeshView[] = [];
      connectionsView(['a'], () => monitor, { scheduler: s }).subscribe((v) => views.push(v));
      s.flush();
      expect(views.map((v) => v.connections.length)).toEqual([1, 0, 1]);
      expect(views[2]?.connections[0]?.events.map((e) => [e.at, e.what])).toEqual([
        [110, 'requested again'],
        [110, 'path now nsc → nsmgr-0 → forwarder-new → icmp-responder (was nsc → nsmgr-0 → forwarder-0 → icmp-responder)'],
      ]);
    });
  });

  it('a failed stream marks its nsmgr down, drops what it reported, and is called again', () => {
    const s = scheduler();
    s.run(({ cold }) => {
      let calls = 0;
      const views: MeshView[] = [];
      connectionsView(['a'], () => (calls++ === 0 ? cold<ConnectionEvent>('a-#', { a: event(ConnectionEventType.INITIAL_STATE_TRANSFER, conn('forwarder-0', 0)) }, new Error('nsmgr gone')) : cold<ConnectionEvent>('a', { a: event(ConnectionEventType.INITIAL_STATE_TRANSFER) })), { scheduler: s, retryMs: 100 }).subscribe((v) => views.push(v));
      s.flush();
      expect(views.map((v) => [v.at, v.sources[0], v.connections.length])).toEqual([
        [0, { url: 'a', up: true }, 1],
        [2, { url: 'a', up: false, error: 'nsmgr gone' }, 0],
        [102, { url: 'a', up: true }, 0],
      ]);
      expect(calls).toBe(2);
    });
  });
});

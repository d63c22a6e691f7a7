import { status } from '../core/status.js';
import { defer, EMPTY, of, throwError, timer, type Observable } from 'rxjs';
import { map } from 'rxjs/operators';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import type { IPContext } from '../../proto/gen/connectioncontext.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { NsmError, unavailable } from '../core/errors.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { aggregatePrefixes, canonicalNsUrl, excludedPrefixesClient, excludedPrefixesServer, nsUrlOf } from './excludedPrefixes.js';
import { metadata } from './metadata.js';
import { point2pointIpam } from './point2pointIpam.js';
import { marbles } from '../../test/marbles.js';
import { errorOf, sync } from '../../test/sync.js';

const req = (id: string, extra: { ns?: string; labels?: Record<string, string>; ip?: Partial<IPContext> } = {}) =>
  NetworkServiceRequest.fromPartial({
    connection: {
      id,
      networkService: extra.ns ?? 'ns',
      labels: extra.labels ?? {},
      mechanism: { cls: 'LOCAL', type: 'KERNEL', parameters: {} },
      context: extra.ip === undefined ? undefined : { ipContext: extra.ip },
    },
  });

describe('aggregatePrefixes', () => {
  it('networks, merged, fewest CIDRs, IPv4 first; undefined if one is not a CIDR', () => {
    expect(aggregatePrefixes(['fd00::/8', '10.0.0.0/9', '10.128.0.0/9', '10.1.2.3/16', '192.168.1.0/24', '192.168.1.7/32'])).toEqual([
      '10.0.0.0/8',
      '192.168.1.0/24',
      'fd00::/8',
    ]);
    expect(aggregatePrefixes([])).toEqual([]);
    expect(aggregatePrefixes(['10.0.0.0/8', '10.0.0.1'])).toBeUndefined();
  });
});

describe('excludedPrefixesServer', () => {
  /** next records (time, excluded prefixes) of each Request it sees. */
  const recording = (scheduler: TestScheduler) => {
    const seen: [number, string[]][] = [];
    const next: NetworkServiceHandler = {
      request: (r) =>
        defer(() => {
          seen.push([scheduler.now(), [...r.connection!.context!.ipContext!.excludedPrefixes]]);
          return of(r.connection!);
        }),
      close: () => of(undefined),
    };
    return { seen, next };
  };

  it('appends the latest list; waits for the first one; an invalid list keeps the previous; subscribed once', () => {
    marbles(({ cold, flush, expectSubscriptions }, scheduler) => {
      const prefixes$ = cold('--a---b---c|', { a: ['10.0.0.0/8'], b: ['10.0.0.0/8', '192.168.0.0/16'], c: ['bad', '1.1.1.1/32'] });
      const { seen, next } = recording(scheduler);
      const server = excludedPrefixesServer(prefixes$);
      const handler = chain([server], next);
      //          requests at 0, 4, 8, 12
      cold('w---x---y---z').subscribe(() => handler.request(req('c'), Context.background).subscribe());
      flush();
      expect(seen).toEqual([
        [2, ['10.0.0.0/8']],
        [4, ['10.0.0.0/8']],
        [8, ['10.0.0.0/8', '192.168.0.0/16']],
        [12, ['10.0.0.0/8', '192.168.0.0/16']],
      ]);
      expectSubscriptions(prefixes$.subscriptions).toBe('^----------!');
    });
  });

  it('keeps what the request had, removes duplicate strings, aggregates the list', () => {
    marbles(({ flush }, scheduler) => {
      const { seen, next } = recording(scheduler);
      const handler = chain([excludedPrefixesServer(of(['10.0.0.0/9', '10.128.0.0/9', '192.168.1.0/24', 'fd00::/8']))], next);
      handler.request(req('c', { ip: { excludedPrefixes: ['192.168.1.0/24', 'x', 'x'] } }), Context.background).subscribe();
      flush();
      expect(seen[0]![1]).toEqual(['192.168.1.0/24', 'x', '10.0.0.0/8', 'fd00::/8']);
    });
  });

  it('creates the connection and IP contexts when missing', () => {
    marbles(({ flush }, scheduler) => {
      const { seen, next } = recording(scheduler);
      chain([excludedPrefixesServer(of(['10.0.0.0/8']))], next).request(req('c'), Context.background).subscribe();
      flush();
      expect(seen).toEqual([[0, ['10.0.0.0/8']]]);
    });
  });

  it('a source that ends or fails before its first list means no prefixes', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { seen, next } = recording(scheduler);
      chain([excludedPrefixesServer(cold('---|'))], next).request(req('a'), Context.background).subscribe();
      chain([excludedPrefixesServer(cold('--#'))], next).request(req('b'), Context.background).subscribe();
      flush();
      expect(seen).toEqual([
        [2, []],
        [3, []],
      ]);
    });
  });

  it('dispose stops following the source; later Requests use the last list', () => {
    marbles(({ hot, cold, flush, expectSubscriptions }, scheduler) => {
      const prefixes$ = hot('-a---b', { a: ['10.0.0.0/8'], b: ['11.0.0.0/8'] });
      const { seen, next } = recording(scheduler);
      const server = excludedPrefixesServer(prefixes$);
      const handler = chain([server], next);
      handler.request(req('a'), Context.background).subscribe();
      cold('---d').subscribe(() => server.dispose());
      cold('------r').subscribe(() => handler.request(req('b'), Context.background).subscribe());
      flush();
      expect(seen).toEqual([
        [1, ['10.0.0.0/8']],
        [6, ['10.0.0.0/8']],
      ]);
      expectSubscriptions(prefixes$.subscriptions).toBe('^--!');
    });
  });

  it('disposed before any list: Requests do not hang', () => {
    marbles(({ flush }, scheduler) => {
      const { seen, next } = recording(scheduler);
      const server = excludedPrefixesServer(EMPTY.pipe(map(() => [] as string[])) as Observable<string[]>);
      server.dispose();
      chain([server], next).request(req('a'), Context.background).subscribe();
      flush();
      expect(seen).toEqual([[0, []]]);
    });
  });
});

describe('nsUrlOf / canonicalNsUrl', () => {
  it('mechanism type in lower case, service, interface name, sorted encoded labels', () => {
    const r = NetworkServiceRequest.fromPartial({
      connection: { networkService: 'my-ns', labels: { b: '2', a: '1 x' }, mechanism: { type: 'KERNEL', parameters: { name: 'nsm-1' } } },
    });
    expect(nsUrlOf(r)).toBe('kernel://my-ns/nsm-1?a=1+x&b=2');
    const pref = NetworkServiceRequest.fromPartial({ connection: { networkService: 'my-ns' }, mechanismPreferences: [{ type: 'MEMIF' }, { type: 'KERNEL' }] });
    expect(nsUrlOf(pref)).toBe('memif://my-ns');
  });

  it('config URLs compare equal whatever the label order and scheme case', () => {
    expect(canonicalNsUrl('KERNEL://my-ns/nsm-1?b=2&a=1+x')).toBe('kernel://my-ns/nsm-1?a=1+x&b=2');
    expect(canonicalNsUrl('kernel://my-ns-1?color=red')).toBe('kernel://my-ns-1?color=red');
    expect(() => canonicalNsUrl('my-ns')).toThrow('"my-ns" is not a network service URL');
  });
});

describe('excludedPrefixesClient', () => {
  /** An NSE: metadata + point2pointIpam over `cidr`; answers with a copy (as over gRPC). */
  function nse(cidr: string) {
    const seen: NetworkServiceRequest[] = [];
    const closes: string[] = [];
    const inner = chain([metadata(), point2pointIpam([cidr])], { request: (r) => of(Connection.fromPartial(r.connection!)), close: () => of(undefined) });
    const handler: NetworkServiceHandler = {
      request: (r, ctx) =>
        defer(() => {
          seen.push(NetworkServiceRequest.fromPartial(r));
          return inner.request(r, ctx);
        }),
      close: (c, ctx) => {
        closes.push(c.id);
        return inner.close(c, ctx);
      },
    };
    return { handler, seen, closes };
  }
  /** Routes by network service name and labels (`ns` or `ns?k=v`). */
  function router(nses: Record<string, NetworkServiceHandler>): NetworkServiceHandler {
    const pick = (c: Connection) => {
      const labels = Object.entries(c.labels).map(([k, v]) => `${k}=${v}`);
      const h = nses[labels.length ? `${c.networkService}?${labels.join('&')}` : c.networkService];
      if (!h) throw new Error(`no NSE for ${c.networkService}`);
      return h;
    };
    return { request: (r, ctx) => defer(() => pick(r.connection!).request(r, ctx)), close: (c, ctx) => defer(() => pick(c).close(c, ctx)) };
  }
  const src = (c: Connection) => c.context!.ipContext!.srcIpAddrs;
  const dst = (c: Connection) => c.context!.ipContext!.dstIpAddrs;

  it('excludes the addresses of the client’s other connections; the request gets its own list back', () => {
    const nse1 = nse('10.0.0.0/29');
    const nse2 = nse('10.0.0.0/29');
    const client = excludedPrefixesClient();
    const handler = chain([client], router({ ns1: nse1.handler, ns2: nse2.handler }));
    const a = sync(handler.request(req('a', { ns: 'ns1' }), Context.background));
    expect([dst(a), src(a)]).toEqual([['10.0.0.0/32'], ['10.0.0.1/32']]);
    expect(nse1.seen[0]!.connection!.context!.ipContext!.excludedPrefixes).toEqual([]);

    const rb = req('b', { ns: 'ns2', ip: { excludedPrefixes: ['192.168.0.0/16'] } });
    const b = sync(handler.request(rb, Context.background));
    // without the exclusion nse2's own pool would have given .0/.1 again
    expect([dst(b), src(b)]).toEqual([['10.0.0.2/32'], ['10.0.0.3/32']]);
    expect(nse2.seen[0]!.connection!.context!.ipContext!.excludedPrefixes).toEqual(['192.168.0.0/16', '10.0.0.1/32', '10.0.0.0/32']);
    expect(rb.connection!.context!.ipContext!.excludedPrefixes).toEqual(['192.168.0.0/16']);
    expect([...client.connections.keys()]).toEqual(['a', 'b']);
  });

  it('a refresh does not exclude its own addresses; Close drops a connection’s addresses', () => {
    const nse1 = nse('10.0.0.0/29');
    const nse2 = nse('10.0.0.0/29');
    const client = excludedPrefixesClient();
    const handler = chain([client], router({ ns1: nse1.handler, ns2: nse2.handler }));
    const a = sync(handler.request(req('a', { ns: 'ns1' }), Context.background));
    const b = sync(handler.request(req('b', { ns: 'ns2' }), Context.background));
    const a2 = sync(handler.request(NetworkServiceRequest.fromPartial({ connection: a }), Context.background));
    expect(nse1.seen[1]!.connection!.context!.ipContext!.excludedPrefixes).toEqual(['10.0.0.3/32', '10.0.0.2/32']);
    expect([dst(a2), src(a2)]).toEqual([['10.0.0.0/32'], ['10.0.0.1/32']]);

    // b's response echoes what it was sent (a's addresses), as a remote NSE does
    expect(b.context!.ipContext!.excludedPrefixes).toEqual(['10.0.0.1/32', '10.0.0.0/32']);

    sync(handler.close(a2, Context.background));
    expect([...client.connections.keys()]).toEqual(['b']);
    const refreshB = NetworkServiceRequest.fromPartial({ connection: b });
    refreshB.connection!.context!.ipContext!.excludedPrefixes = [];
    sync(handler.request(refreshB, Context.background));
    expect(nse2.seen[1]!.connection!.context!.ipContext!.excludedPrefixes).toEqual([]);
  });

  it('the request’s own addresses are never sent as excluded (even if its list carries them)', () => {
    const nse1 = nse('10.0.0.0/29');
    const nse2 = nse('10.0.0.0/29');
    const handler = chain([excludedPrefixesClient()], router({ ns1: nse1.handler, ns2: nse2.handler }));
    sync(handler.request(req('a', { ns: 'ns1' }), Context.background));
    const b = sync(handler.request(req('b', { ns: 'ns2' }), Context.background));
    const refresh = NetworkServiceRequest.fromPartial({ connection: b });
    refresh.connection!.context!.ipContext!.excludedPrefixes.push('10.0.0.3/32');
    const b2 = sync(handler.request(refresh, Context.background));
    expect(nse2.seen[1]!.connection!.context!.ipContext!.excludedPrefixes).toEqual(['10.0.0.1/32', '10.0.0.0/32']);
    expect([dst(b2), src(b2)]).toEqual([['10.0.0.2/32'], ['10.0.0.3/32']]);
  });

  it('a refresh that moved replaces the connection’s addresses (upstream would keep the old ones too)', () => {
    const nse1 = nse('10.0.0.0/29');
    const nse2 = nse('10.0.0.0/29');
    const client = excludedPrefixesClient();
    const handler = chain([client], router({ ns1: nse1.handler, ns2: nse2.handler }));
    const a = sync(handler.request(req('a', { ns: 'ns1' }), Context.background));
    const moved = Connection.fromPartial(a);
    moved.context!.ipContext!.excludedPrefixes = ['10.0.0.0/30'];
    sync(handler.request(NetworkServiceRequest.fromPartial({ connection: moved }), Context.background));
    expect(client.connections.get('a')!.prefixes).toEqual(['10.0.0.5/32', '10.0.0.4/32', '10.0.0.0/30']);
    sync(handler.request(req('b', { ns: 'ns2' }), Context.background));
    expect(nse2.seen[0]!.connection!.context!.ipContext!.excludedPrefixes).toEqual(['10.0.0.5/32', '10.0.0.4/32', '10.0.0.0/30']);
  });

  it('a connection outside any group carries the excluded prefixes its response returned into later requests (upstream), not those sent for others', () => {
    const withServerList = (h: NetworkServiceHandler, added: string[]): NetworkServiceHandler => ({
      request: (r, ctx) =>
        defer(() => {
          const ip = r.connection!.context!.ipContext!;
          ip.excludedPrefixes = [...ip.excludedPrefixes, ...added];
          return h.request(r, ctx);
        }),
      close: (c, ctx) => h.close(c, ctx),
    });
    const nse1 = nse('10.0.0.0/29');
    const nse2 = nse('10.0.0.0/29');
    const nse3 = nse('10.0.0.0/29');
    const client = excludedPrefixesClient();
    // what an nsmgr (excludedPrefixesServer) or the NSE adds comes back in the response
    const handler = chain([client], router({ ns1: withServerList(nse1.handler, ['10.96.0.0/12']), ns2: nse2.handler, ns3: nse3.handler }));
    sync(handler.request(req('a', { ns: 'ns1' }), Context.background));
    expect(client.connections.get('a')!.prefixes).toEqual(['10.0.0.1/32', '10.0.0.0/32', '10.96.0.0/12']);
    sync(handler.request(req('b', { ns: 'ns2' }), Context.background));
    expect(nse2.seen[0]!.connection!.context!.ipContext!.excludedPrefixes).toEqual(['10.0.0.1/32', '10.0.0.0/32', '10.96.0.0/12']);
    // b was sent a's prefixes and echoes them: they stay a's, so they go when a is Closed
    expect(client.connections.get('b')!.prefixes).toEqual(['10.0.0.3/32', '10.0.0.2/32']);
    sync(handler.close(Connection.fromPartial({ id: 'a', networkService: 'ns1' }), Context.background));
    sync(handler.request(req('c', { ns: 'ns3' }), Context.background));
    expect(nse3.seen[0]!.connection!.context!.ipContext!.excludedPrefixes).toEqual(['10.0.0.3/32', '10.0.0.2/32']);
  });

  it('Test_AwareNSEs: one awareness group may share addresses; other connections exclude them', () => {
    const red1 = nse('172.16.0.96/29');
    const red2 = nse('172.16.0.96/29');
    const friday = nse('172.16.0.96/29');
    const client = excludedPrefixesClient({ awarenessGroups: [['kernel://my-ns-1?color=red', 'kernel://my-ns-2?color=red']] });
    const handler = chain([client], router({ 'my-ns-1?color=red': red1.handler, 'my-ns-2?color=red': red2.handler, 'my-ns-1?day=friday': friday.handler }));
    const c0 = sync(handler.request(req('0', { ns: 'my-ns-1', labels: { color: 'red' } }), Context.background));
    const c1 = sync(handler.request(req('1', { ns: 'my-ns-2', labels: { color: 'red' } }), Context.background));
    const c2 = sync(handler.request(req('2', { ns: 'my-ns-1', labels: { day: 'friday' } }), Context.background));
    expect(src(c0)).toEqual(src(c1));
    expect(src(c0)).not.toEqual(src(c2));
    expect(red2.seen[0]!.connection!.context!.ipContext!.excludedPrefixes).toEqual([]);
    expect(friday.seen[0]!.connection!.context!.ipContext!.excludedPrefixes).toEqual(['172.16.0.97/32', '172.16.0.96/32']);
    expect(client.connections.get('0')!.group).toBe(0);
    expect(client.connections.get('2')!.group).toBe(-1);
    // a group member's refresh excludes the non-group connection's addresses, not its group's
    sync(handler.request(NetworkServiceRequest.fromPartial({ connection: c1 }), Context.background));
    expect(red2.seen[1]!.connection!.context!.ipContext!.excludedPrefixes).toEqual(['172.16.0.99/32', '172.16.0.98/32']);
  });

  describe('a response that overlaps the excluded prefixes', () => {
    /** An NSE that ignores exclusions: always the addresses `addrs` gives for the id. */
    function stubborn(addrs: (id: string) => { src: string; dst: string }, closeFails = false) {
      const closes: string[] = [];
      const handler: NetworkServiceHandler = {
        request: (r) =>
          defer(() => {
            const c = Connection.fromPartial(r.connection!);
            const { src, dst } = addrs(c.id);
            c.context!.ipContext!.srcIpAddrs = [src];
            c.context!.ipContext!.dstIpAddrs = [dst];
            return of(c);
          }),
        close: (c) =>
          defer(() => {
            closes.push(c.id);
            return closeFails ? throwError(() => unavailable('close failed')) : of(undefined);
          }),
      };
      return { handler, closes };
    }

    it('another connection’s address → that connection is Closed and the Request fails FAILED_PRECONDITION', () => {
      const nse = stubborn(() => ({ src: '10.0.0.1/32', dst: '10.0.0.0/32' }));
      const client = excludedPrefixesClient();
      const handler = chain([client], nse.handler);
      sync(handler.request(req('a'), Context.background));
      const rb = req('b');
      const err = errorOf(() => sync(handler.request(rb, Context.background)));
      expect(err).toBeInstanceOf(NsmError);
      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(err.message).toBe("excludedPrefixesClient: the response's src address 10.0.0.1/32 is excluded (another connection of this client uses it); the connection was closed");
      expect(nse.closes).toEqual(['b']);
      expect([...client.connections.keys()]).toEqual(['a']);
      expect(rb.connection!.context!.ipContext!.excludedPrefixes).toEqual([]);
    });

    it('a /32 the request itself excluded is checked too; a failing Close is reported', () => {
      const nse = stubborn((id) => (id === 'a' ? { src: '10.0.0.1/32', dst: '10.0.0.0/32' } : { src: '10.0.0.3/32', dst: '10.0.0.5/32' }), true);
      const handler = chain([excludedPrefixesClient()], nse.handler);
      sync(handler.request(req('a'), Context.background));
      const err = errorOf(() => sync(handler.request(req('b', { ip: { excludedPrefixes: ['10.0.0.5/32'] } }), Context.background)));
      expect(err.message).toBe(
        "excludedPrefixesClient: the response's dst address 10.0.0.5/32 is excluded (the request excluded it); the connection was closed; closing it failed: close failed",
      );
    });

    it('wider excluded prefixes are not checked (upstream checks /32 and /128 only)', () => {
      const nse = stubborn((id) => (id === 'a' ? { src: '10.0.0.1/32', dst: '10.0.0.0/32' } : { src: '10.0.0.3/32', dst: '10.0.0.5/32' }));
      const handler = chain([excludedPrefixesClient()], nse.handler);
      sync(handler.request(req('a'), Context.background));
      const b = sync(handler.request(req('b', { ip: { excludedPrefixes: ['10.0.0.0/24'] } }), Context.background));
      expect(src(b)).toEqual(['10.0.0.3/32']);
    });

    it('the Close reaches the NSE before the caller hears the error (marble)', () => {
      marbles(({ cold, flush }, scheduler) => {
        const events: string[] = [];
        const next: NetworkServiceHandler = {
          request: (r) => timer(2).pipe(map(() => Connection.fromPartial({ ...r.connection!, context: { ipContext: { srcIpAddrs: ['10.0.0.1/32'], dstIpAddrs: ['10.0.0.0/32'] } } }))),
          close: (c) =>
            defer(() => {
              events.push(`${scheduler.now()}: close ${c.id}`);
              return timer(5).pipe(map(() => undefined));
            }),
        };
        const handler = chain([excludedPrefixesClient()], next);
        handler.request(req('a'), Context.background).subscribe();
        cold('---x').subscribe(() =>
          handler.request(req('b'), Context.background).subscribe({ error: (e: NsmError) => events.push(`${scheduler.now()}: error ${status[e.code]}`) }),
        );
        flush();
        expect(events).toEqual(['5: close b', '10: error FAILED_PRECONDITION']);
      });
    });
  });

  it('a failed Request records nothing and gives the request its list back', () => {
    let fail = false;
    const next: NetworkServiceHandler = {
      request: (r) => (fail ? throwError(() => unavailable('nse down')) : of(Connection.fromPartial({ ...r.connection!, context: { ipContext: { srcIpAddrs: ['10.0.0.1/32'] } } }))),
      close: () => of(undefined),
    };
    const client = excludedPrefixesClient();
    const handler = chain([client], next);
    sync(handler.request(req('a'), Context.background));
    fail = true;
    const rb = req('b', { ip: { excludedPrefixes: ['1.2.3.4/32'] } });
    expect(() => sync(handler.request(rb, Context.background))).toThrow('nse down');
    expect(rb.connection!.context!.ipContext!.excludedPrefixes).toEqual(['1.2.3.4/32']);
    expect([...client.connections.keys()]).toEqual(['a']);
  });

  it('in-process, when the response is the request’s own connection, it keeps the list that was sent', () => {
    const next: NetworkServiceHandler = {
      request: (r) => {
        const c = r.connection!;
        c.context!.ipContext!.srcIpAddrs = [c.id === 'a' ? '10.0.0.1/32' : '10.0.0.3/32'];
        return of(c);
      },
      close: () => of(undefined),
    };
    const handler = chain([excludedPrefixesClient()], next);
    sync(handler.request(req('a'), Context.background));
    const b = sync(handler.request(req('b'), Context.background));
    expect(b.context!.ipContext!.excludedPrefixes).toEqual(['10.0.0.1/32']);
  });
});

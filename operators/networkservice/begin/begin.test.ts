import { status } from '../../core/status.js';
import { defer, Observable, of } from 'rxjs';
import { concatMap, map } from 'rxjs/operators';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { Connection, State } from '../../../proto/gen/connection.js';
import { ConnectionContext } from '../../../proto/gen/connectioncontext.js';
import { NetworkServiceRequest } from '../../../proto/gen/networkservice.js';
import { Context, ContextKey } from '../../core/context.js';
import { chain, type NetworkServiceHandler } from '../../core/networkservice.js';
import { beginClient, beginServer } from './begin.js';
import { eventFactoryKey, eventFactoryOf, type EventFactory } from './eventFactory.js';
import { mergeConnection } from './merge.js';
import { marbles } from '../../../test/marbles.js';

/** Runs `body` in virtual time; the same TestScheduler is handed over for injection as `scheduler`. */

const request = (id: string, extra: Partial<Connection> = {}) =>
  NetworkServiceRequest.fromPartial({
    connection: { id, networkService: 'ns', ...extra },
    mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL' }],
  });
const connection = (id: string, extra: Partial<Connection> = {}) => Connection.fromPartial({ id, networkService: 'ns', ...extra });

interface Call {
  readonly kind: 'request' | 'close';
  readonly at: number;
  readonly conn: Connection;
  readonly ctx: Context;
}

/**
 * The rest of the chain below begin: answers Requests with `requestReply` (a cold marble whose
 * value is ignored: the answer is the requested connection with `answer` applied) and Closes with
 * `closeReply`; records every call with its virtual time.
 */
function downstream(
  scheduler: TestScheduler,
  requestReply: Observable<unknown> | ((n: number) => Observable<unknown>),
  closeReply: Observable<unknown> = of(undefined),
  answer: (c: Connection, n: number) => void = (c) => (c.networkServiceEndpointName = 'nse-1'),
) {
  const calls: Call[] = [];
  let n = 0;
  const next: NetworkServiceHandler = {
    request: (req, ctx) =>
      defer(() => {
        const i = n++;
        calls.push({ kind: 'request', at: scheduler.now(), conn: Connection.fromPartial(req.connection as Connection), ctx });
        const reply = typeof requestReply === 'function' ? requestReply(i) : requestReply;
        return reply.pipe(
          map(() => {
            const c = Connection.fromPartial(req.connection as Connection);
            answer(c, i);
            return c;
          }),
        );
      }),
    close: (conn, ctx) =>
      defer(() => {
        calls.push({ kind: 'close', at: scheduler.now(), conn: Connection.fromPartial(conn), ctx });
        return closeReply.pipe(map(() => undefined));
      }),
  };
  const log = () => calls.map((c) => `${c.kind} ${c.conn.id}@${c.at}`);
  return { next, calls, log };
}

const idOf = map((c: Connection) => c.id);

describe('begin: per-connection serialisation', () => {
  it('two Requests for the same id never overlap: the second waits for the first (FIFO)', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const reply = cold('---(c|)');
      const { next } = downstream(scheduler, reply);
      const handler = chain([beginServer({ scheduler })], next);
      // R1 ---(a|)            R2 subscribed at 1 starts at 3
      expectObservable(handler.request(request('a'), Context.background).pipe(idOf)).toBe('---(a|)');
      expectObservable(handler.request(request('a'), Context.background).pipe(idOf), '-^').toBe('------(a|)');
      expectObservable(handler.request(request('a'), Context.background).pipe(idOf), '--^').toBe('---------(a|)');
      expectSubscriptions(reply.subscriptions).toBe(['^--!', '---^--!', '------^--!']);
    });
  });

  it('Requests for different ids run in parallel', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const reply = cold('---(c|)');
      const { next } = downstream(scheduler, reply);
      const handler = chain([beginServer({ scheduler })], next);
      expectObservable(handler.request(request('a'), Context.background).pipe(idOf)).toBe('---(a|)');
      expectObservable(handler.request(request('b'), Context.background).pipe(idOf)).toBe('---(b|)');
      expectSubscriptions(reply.subscriptions).toBe(['^--!', '^--!']);
    });
  });

  it('a Close waits for the Request in flight and closes the connection it returned', () => {
    marbles(({ cold, expectObservable, expectSubscriptions, flush }, scheduler) => {
      const reply = cold('---(c|)');
      const closeReply = cold('--(x|)');
      const { next, calls } = downstream(scheduler, reply, closeReply);
      const handler = chain([beginServer({ scheduler })], next);
      expectObservable(handler.request(request('a'), Context.background).pipe(idOf)).toBe('---(a|)');
      // the caller closes with what it holds (no endpoint name yet)
      expectObservable(handler.close(connection('a'), Context.background), '-^').toBe('-----(x|)', { x: undefined });
      expectSubscriptions(closeReply.subscriptions).toBe('---^-!');
      flush();
      const close = calls.find((c) => c.kind === 'close');
      expect(close?.conn.networkServiceEndpointName).toBe('nse-1');
    });
  });

  it('Close always uses the connection last returned, even after a refresh changed it', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls } = downstream(scheduler, cold('-(c|)'), of(undefined), (c, n) => (c.networkServiceEndpointName = `nse-${n + 1}`));
      const handler = chain([beginServer({ scheduler })], next);
      handler.request(request('a'), Context.background).subscribe();
      cold('--x').subscribe(() => handler.request(request('a'), Context.background).subscribe());
      cold('----x').subscribe(() => handler.close(connection('a', { networkServiceEndpointName: 'whatever' }), Context.background).subscribe());
      flush();
      expect(calls.map((c) => `${c.kind}@${c.at}`)).toEqual(['request@0', 'request@2', 'close@4']);
      expect(calls[2]?.conn.networkServiceEndpointName).toBe('nse-2');
    });
  });

  it('Close of an unknown id completes at once and never calls next', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { next, calls } = downstream(scheduler, cold('-(c|)'));
      const begin = beginServer({ scheduler });
      const handler = chain([begin], next);
      expectObservable(handler.close(connection('unknown'), Context.background)).toBe('(x|)', { x: undefined });
      flush();
      expect(calls).toEqual([]);
      expect(begin.connections.size).toBe(0);
    });
  });

  it('a second Close after the first is a no-op', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, log } = downstream(scheduler, cold('-(c|)'));
      const begin = beginServer({ scheduler });
      const handler = chain([begin], next);
      handler.request(request('a'), Context.background).subscribe();
      cold('--x').subscribe(() => handler.close(connection('a'), Context.background).subscribe());
      cold('---x').subscribe(() => handler.close(connection('a'), Context.background).subscribe());
      flush();
      expect(log()).toEqual(['request a@0', 'close a@2']);
      expect(begin.connections.size).toBe(0);
    });
  });

  it('a failed first Request forgets the id', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { next, log } = downstream(scheduler, cold('--#', undefined, new Error('no')));
      const begin = beginServer({ scheduler });
      const handler = chain([begin], next);
      expectObservable(handler.request(request('a'), Context.background)).toBe('--#', undefined, new Error('no'));
      cold('---x').subscribe(() => handler.close(connection('a'), Context.background).subscribe());
      flush();
      expect(begin.connections.size).toBe(0);
      expect(log()).toEqual(['request a@0']); // the Close found nothing to close
    });
  });

  it('a first Request cancelled before its answer forgets the id', () => {
    marbles(({ cold, expectObservable, expectSubscriptions, flush }, scheduler) => {
      const reply = cold('-----(c|)');
      const { next } = downstream(scheduler, reply);
      const begin = beginServer({ scheduler });
      const handler = chain([begin], next);
      expectObservable(handler.request(request('a'), Context.background), '^-!').toBe('');
      expectSubscriptions(reply.subscriptions).toBe('^-!');
      flush();
      expect(begin.connections.size).toBe(0);
    });
  });

  it('a failed refresh keeps the established connection', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { next, calls } = downstream(scheduler, (n) => (n === 0 ? cold('-(c|)') : cold('-#', undefined, new Error('refresh failed'))));
      const begin = beginServer({ scheduler });
      const handler = chain([begin], next);
      expectObservable(handler.request(request('a'), Context.background).pipe(idOf)).toBe('-(a|)');
      expectObservable(handler.request(request('a'), Context.background), '--^').toBe('---#', undefined, new Error('refresh failed'));
      cold('-----x').subscribe(() => handler.close(connection('a'), Context.background).subscribe());
      flush();
      expect(calls.map((c) => `${c.kind}@${c.at}`)).toEqual(['request@0', 'request@2', 'close@5']);
      expect(calls[2]?.conn.networkServiceEndpointName).toBe('nse-1');
      expect(begin.connections.size).toBe(0);
    });
  });

  it('rejects a Request without a connection id', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { next } = downstream(scheduler, cold('-(c|)'));
      const handler = chain([beginServer({ scheduler })], next);
      expectObservable(handler.request(request(''), Context.background)).toBe(
        '#',
        undefined,
        expect.objectContaining({ code: status.INVALID_ARGUMENT }) as unknown as Error,
      );
    });
  });
});

describe('begin (server side)', () => {
  it('sets state UP on the returned connection', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const { next } = downstream(scheduler, cold('-(c|)'), of(undefined), (c) => (c.state = State.DOWN));
      const handler = chain([beginServer({ scheduler })], next);
      expectObservable(handler.request(request('a', { state: State.RESELECT_REQUESTED }), Context.background).pipe(map((c) => c.state))).toBe('-(u|)', {
        u: State.UP,
      });
    });
  });

  it('an established connection re-requested with RESELECT_REQUESTED is first Closed downstream', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls, log } = downstream(scheduler, cold('-(c|)'), cold('-(x|)'), (c, n) => (c.networkServiceEndpointName = `nse-${n + 1}`));
      const handler = chain([beginServer({ scheduler })], next);
      handler.request(request('a'), Context.background).subscribe();
      let result: Connection | undefined;
      cold('-----x').subscribe(() =>
        handler.request(request('a', { state: State.RESELECT_REQUESTED }), Context.background).subscribe((c) => (result = c)),
      );
      flush();
      // close of the old connection (1 ms), then the new Request
      expect(log()).toEqual(['request a@0', 'close a@5', 'request a@6']);
      expect(calls[1]?.conn.networkServiceEndpointName).toBe('nse-1');
      expect(result?.networkServiceEndpointName).toBe('nse-2');
      expect(result?.state).toBe(State.UP);
    });
  });

  it('a RESELECT_REQUESTED for an unknown id closes nothing', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, log } = downstream(scheduler, cold('-(c|)'));
      const handler = chain([beginServer({ scheduler })], next);
      handler.request(request('a', { state: State.RESELECT_REQUESTED }), Context.background).subscribe();
      flush();
      expect(log()).toEqual(['request a@0']);
    });
  });

  it('a reselect whose old-connection Close fails still sends the Request', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, log } = downstream(scheduler, cold('-(c|)'), cold('-#'));
      const handler = chain([beginServer({ scheduler })], next);
      handler.request(request('a'), Context.background).subscribe();
      let result: Connection | undefined;
      cold('---x').subscribe(() =>
        handler.request(request('a', { state: State.RESELECT_REQUESTED }), Context.background).subscribe((c) => (result = c)),
      );
      flush();
      expect(log()).toEqual(['request a@0', 'close a@3', 'request a@4']);
      expect(result?.state).toBe(State.UP);
    });
  });
});

describe('begin (client side): three-way merge', () => {
  it('a re-request keeps what the chain settled on and applies only the caller’s changes', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls } = downstream(scheduler, cold('-(c|)'), of(undefined), (c, n) => {
        c.networkServiceEndpointName = 'nse-1';
        c.mechanism = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: `nsm-${n}` } };
        c.context = ConnectionContext.fromPartial({ ...c.context, extraContext: { ...c.context?.extraContext, [`seen-${n}`]: 'yes' } });
      });
      const begin = beginClient({ scheduler });
      const handler = chain([begin], next);
      let returned: Connection | undefined;
      handler.request(request('a', { context: ConnectionContext.fromPartial({ extraContext: { keep: '1', drop: '2' } }) }), Context.background).subscribe((c) => (returned = c));
      flush();
      // a refresh from inside the chain changes the current connection (mechanism, context)
      const factory = eventFactoryOf(calls[0]?.ctx as Context) as EventFactory;
      factory.request().subscribe();
      flush();
      // the caller edits what it was given: drops one key, changes the endpoint name
      const edited = Connection.fromPartial(returned as Connection);
      delete edited.context?.extraContext['drop'];
      edited.networkServiceEndpointName = 'nse-wanted';
      edited.mechanism = undefined; // not an intentional change begin merges
      handler.request(NetworkServiceRequest.fromPartial({ connection: edited }), Context.background).subscribe();
      flush();
      const sent = calls[2]?.conn as Connection;
      expect(sent.mechanism?.parameters).toEqual({ name: 'nsm-1' }); // from the refresh, not the caller
      expect(sent.networkServiceEndpointName).toBe('nse-wanted');
      // current {keep, drop, seen-0, seen-1} minus what the caller dropped; keys only the refresh added stay
      expect(sent.context?.extraContext).toStrictEqual({ keep: '1', 'seen-0': 'yes', 'seen-1': 'yes' });
    });
  });

  it('an unchanged re-request sends the current connection, not the caller’s stale copy', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls } = downstream(scheduler, cold('-(c|)'), of(undefined), (c, n) => {
        c.networkServiceEndpointName = 'nse-1';
        c.labels = { ...c.labels, call: `${n}` };
      });
      const handler = chain([beginClient({ scheduler })], next);
      let returned: Connection | undefined;
      handler.request(request('a'), Context.background).subscribe((c) => (returned = c));
      flush();
      (eventFactoryOf(calls[0]?.ctx as Context) as EventFactory).request().subscribe();
      flush();
      handler.request(NetworkServiceRequest.fromPartial({ connection: returned }), Context.background).subscribe();
      flush();
      expect(calls[2]?.conn.labels).toEqual({ call: '1' });
      expect(calls[2]?.conn.networkServiceEndpointName).toBe('nse-1');
    });
  });
});

describe('mergeConnection', () => {
  it('with nothing established returns the request as is', () => {
    const requested = connection('a', { networkServiceEndpointName: 'x' });
    expect(mergeConnection(undefined, requested, undefined)).toBe(requested);
  });

  it('changed values in the context replace the current ones; new keys are not added (as upstream)', () => {
    const returned = connection('a', { context: ConnectionContext.fromPartial({ extraContext: { a: '1', b: '2' }, MTU: 1500 }) });
    const requested = connection('a', { context: ConnectionContext.fromPartial({ extraContext: { a: '9', c: 'new' }, MTU: 9000 }) });
    const current = connection('a', { context: ConnectionContext.fromPartial({ extraContext: { a: '1', b: '2', d: 'chain' }, MTU: 1500 }) });
    const merged = mergeConnection(returned, requested, current);
    expect(merged.context?.extraContext).toStrictEqual({ a: '9', d: 'chain' });
    expect(merged.context?.MTU).toBe(9000);
    expect(merged).not.toBe(current);
  });
});

describe('begin: event factory', () => {
  const valueKey = new ContextKey<string>('test.value');

  it('re-enters next with the same time budget the first Request had and the latest values', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls } = downstream(scheduler, cold('-(c|)'));
      const handler = chain([beginClient({ scheduler })], next);
      // first Request: 1000 ms budget
      handler.request(request('a'), Context.background.with(valueKey, 'first').withDeadline(scheduler.now() + 1000)).subscribe();
      // a caller refresh at 200 with a smaller budget and new values
      cold('200ms x').subscribe(() =>
        handler.request(request('a'), Context.background.with(valueKey, 'second').withDeadline(scheduler.now() + 300)).subscribe(),
      );
      cold('400ms x').subscribe(() => (eventFactoryOf(calls[0]?.ctx as Context) as EventFactory).request().subscribe());
      flush();
      const event = calls[2] as Call;
      expect(event.at).toBe(400);
      expect((event.ctx.deadline as number) - event.at).toBe(1000);
      expect(event.ctx.get(valueKey)).toBe('second');
      expect(event.ctx.get(eventFactoryKey)).toBeDefined();
    });
  });

  it('without a first deadline, events have none either', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls } = downstream(scheduler, cold('-(c|)'));
      const handler = chain([beginServer({ scheduler })], next);
      handler.request(request('a'), Context.background).subscribe();
      cold('10ms x').subscribe(() => (eventFactoryOf(calls[0]?.ctx as Context) as EventFactory).request().subscribe());
      flush();
      expect(calls[1]?.ctx.deadline).toBeUndefined();
    });
  });

  it('events queue behind the caller’s Request in flight', () => {
    marbles(({ cold, expectSubscriptions, flush }, scheduler) => {
      const reply = cold('---(c|)');
      const { next, calls } = downstream(scheduler, reply);
      const handler = chain([beginServer({ scheduler })], next);
      handler.request(request('a'), Context.background).subscribe();
      cold('----x').subscribe(() => handler.request(request('a'), Context.background).subscribe());
      // the factory's event, asked for at 5 while the second Request runs (4..7), starts at 7
      cold('-----x').subscribe(() => (eventFactoryOf(calls[0]?.ctx as Context) as EventFactory).request().subscribe());
      expectSubscriptions(reply.subscriptions).toBe(['^--!', '----^--!', '-------^--!']);
      flush();
    });
  });

  it('an event Request re-sends the last returned connection and records the new answer', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls } = downstream(scheduler, cold('-(c|)'), of(undefined), (c, n) => (c.networkServiceEndpointName = `nse-${n + 1}`));
      const handler = chain([beginServer({ scheduler })], next);
      handler.request(request('a'), Context.background).subscribe();
      cold('--x').subscribe(() => (eventFactoryOf(calls[0]?.ctx as Context) as EventFactory).request().subscribe());
      cold('----x').subscribe(() => handler.close(connection('a'), Context.background).subscribe());
      flush();
      expect(calls[1]?.conn.networkServiceEndpointName).toBe('nse-1');
      expect(calls[2]?.kind).toBe('close');
      expect(calls[2]?.conn.networkServiceEndpointName).toBe('nse-2');
    });
  });

  it('reselect (client): Closes the old connection, then Requests it with mechanism and endpoint cleared, RESELECT_REQUESTED', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls, log } = downstream(scheduler, cold('-(c|)'), cold('--(x|)'), (c, n) => {
        c.networkServiceEndpointName = `nse-${n + 1}`;
        c.mechanism = { cls: 'LOCAL', type: 'KERNEL', parameters: {} };
      });
      const begin = beginClient({ scheduler });
      const handler = chain([begin], next);
      handler.request(request('a'), Context.background).subscribe();
      cold('10ms x').subscribe(() => (eventFactoryOf(calls[0]?.ctx as Context) as EventFactory).request({ reselect: true }).subscribe());
      flush();
      expect(log()).toEqual(['request a@0', 'close a@10', 'request a@12']);
      expect(calls[1]?.conn.networkServiceEndpointName).toBe('nse-1');
      const reselected = calls[2]?.conn as Connection;
      expect(reselected.mechanism).toBeUndefined();
      expect(reselected.networkServiceEndpointName).toBe('');
      expect(reselected.state).toBe(State.RESELECT_REQUESTED);
      // the newly settled connection is stored as UP and is what a later Close closes
      const entry = begin.connections.get('a');
      expect(entry?.last?.connection?.state).toBe(State.UP);
      expect(entry?.last?.connection?.networkServiceEndpointName).toBe('nse-2');
    });
  });

  it('a custom reselect function decides what is reset', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls } = downstream(scheduler, cold('-(c|)'));
      const handler = chain([beginClient({ scheduler, reselect: (r) => (r.connection!.labels = { reselected: 'yes' }) })], next);
      handler.request(request('a'), Context.background).subscribe();
      cold('10ms x').subscribe(() => (eventFactoryOf(calls[0]?.ctx as Context) as EventFactory).request({ reselect: true }).subscribe());
      flush();
      expect(calls[2]?.conn.labels).toEqual({ reselected: 'yes' });
      expect(calls[2]?.conn.networkServiceEndpointName).toBe('nse-1');
    });
  });

  it('close removes the entry; later events and Closes are no-ops', () => {
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const { next, calls, log } = downstream(scheduler, cold('-(c|)'), cold('-(x|)'));
      const begin = beginServer({ scheduler });
      const handler = chain([begin], next);
      handler.request(request('a'), Context.background).subscribe();
      const factory = () => eventFactoryOf(calls[0]?.ctx as Context) as EventFactory;
      // factory close asked for at 5, answered at 6
      expectObservable(cold('-----(x|)').pipe(concatMap(() => factory().close()))).toBe('------(x|)', { x: undefined });
      cold('--------x').subscribe(() => {
        expect(begin.connections.size).toBe(0);
        factory().request().subscribe();
        factory().close().subscribe();
        handler.close(connection('a'), Context.background).subscribe();
      });
      flush();
      expect(log()).toEqual(['request a@0', 'close a@5']);
      expect(calls[1]?.conn.networkServiceEndpointName).toBe('nse-1');
    });
  });

  it('is transparent when the context already carries an event factory (client chain inside a server chain)', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls } = downstream(scheduler, cold('-(c|)'));
      const outer = beginServer({ scheduler });
      const inner = beginClient({ scheduler });
      const handler = chain([outer, inner], next);
      handler.request(request('a'), Context.background).subscribe();
      flush();
      expect(inner.connections.size).toBe(0);
      expect(outer.connections.size).toBe(1);
      expect(calls[0]?.ctx.get(eventFactoryKey)).toBe(outer.connections.get('a'));
      handler.close(connection('a'), Context.background).subscribe();
      flush();
      expect(calls.map((c) => c.kind)).toEqual(['request', 'close']);
      expect(outer.connections.size).toBe(0);
    });
  });
});

describe('begin: loops', () => {
  const key = Symbol('test loop');

  it('an event a loop queued is dropped when the loop is replaced before its turn; one that started runs to its end', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { next, calls, log } = downstream(scheduler, cold('---(c|)'), of(undefined), (c, n) => (c.networkServiceEndpointName = `nse-${n + 1}`));
      const begin = beginServer({ scheduler });
      const handler = chain([begin], next);
      handler.request(request('a'), Context.background).subscribe();
      const factory = () => eventFactoryOf(calls[0]?.ctx as Context) as EventFactory;
      // at 4 the loop asks for a Request (runs 4..7); at 5 a caller's Request queues (7..10)
      cold('----x').subscribe(() => factory().loop(key, cold('x').pipe(concatMap(() => factory().request()))));
      cold('-----x').subscribe(() => handler.request(request('a'), Context.background).subscribe());
      // at 6 the loop asks for a Close, queued behind the caller's Request; at 8 a new loop replaces it
      cold('------x').subscribe(() => factory().loop(key, cold('x').pipe(concatMap(() => factory().close()))));
      cold('--------x').subscribe(() => {
        // the Request the first loop asked for ran to its end although that loop was replaced at 6
        expect(begin.connections.get('a')?.last?.connection?.networkServiceEndpointName).toBe('nse-2');
        factory().loop(key, cold('-'));
      });
      flush();
      expect(log()).toEqual(['request a@0', 'request a@4', 'request a@7']);
    });
  });

  it('a Close stops every loop when it starts; a reselect’s Close inside an event does not', () => {
    marbles(({ cold, expectSubscriptions, flush }, scheduler) => {
      const { next, calls, log } = downstream(scheduler, cold('-(c|)'), cold('--(x|)'));
      const begin = beginClient({ scheduler });
      const handler = chain([begin], next);
      handler.request(request('a'), Context.background).subscribe();
      const factory = () => eventFactoryOf(calls[0]?.ctx as Context) as EventFactory;
      const loop = cold('-');
      cold('-x').subscribe(() => factory().loop(key, loop));
      cold('--x').subscribe(() => factory().request({ reselect: true }).subscribe());
      cold('10ms x').subscribe(() => handler.close(connection('a'), Context.background).subscribe());
      // the reselect's Close at 2..4 leaves the loop; the caller's Close at 10 stops it
      expectSubscriptions(loop.subscriptions).toBe('-^--------!');
      flush();
      expect(log()).toEqual(['request a@0', 'close a@2', 'request a@4', 'close a@10']);
      expect(begin.connections.get('a')).toBeUndefined();
    });
  });
});

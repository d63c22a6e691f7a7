import { status } from '../core/status.js';
import { defer, of, throwError } from 'rxjs';
import { map } from 'rxjs/operators';
import { describe, expect, it } from 'vitest';
import { Connection, type Mechanism } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { NsmError, unavailable } from '../core/errors.js';
import { chain, type NetworkServiceElement, type NetworkServiceHandler } from '../core/networkservice.js';
import { mechanisms } from './mechanisms.js';
import { marbles } from '../../test/marbles.js';

const mech = (type: string, parameters: Record<string, string> = {}): Mechanism => ({ cls: 'LOCAL', type, parameters });
const request = (preferences: Mechanism[], chosen?: Mechanism) =>
  NetworkServiceRequest.fromPartial({ connection: { id: 'a', networkService: 'ns', mechanism: chosen }, mechanismPreferences: preferences });

/**
 * Handler elements that log which mechanism type they saw, then continue to next, or fail with
 * `failWith` (after scribbling on the request, as a half-done attempt might).
 */
function handlerFor(type: string, log: string[], failWith?: string): NetworkServiceElement {
  return {
    request: (req, ctx, next) =>
      defer(() => {
        log.push(`${type} request (mechanism ${req.connection?.mechanism?.type})`);
        if (failWith === undefined) return next.request(req, ctx);
        (req.connection as Connection).labels = { ...req.connection?.labels, [`touched-by-${type}`]: 'yes' };
        return throwError(() => unavailable(failWith));
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        log.push(`${type} close`);
        return next.close(conn, ctx);
      }),
  };
}

function tail(log: string[]): NetworkServiceHandler {
  return {
    request: (req) =>
      defer(() => {
        log.push(`next request labels=${JSON.stringify(req.connection?.labels)}`);
        return of(Connection.fromPartial(req.connection as Connection));
      }),
    close: () =>
      defer(() => {
        log.push('next close');
        return of(undefined);
      }),
  };
}

const errorWith = (code: status, ...parts: string[]) =>
  expect.objectContaining({ code, message: expect.stringMatching(new RegExp(parts.map((p) => p.replace(/[[\]]/g, '\\$&')).join('.*'))) }) as unknown as Error;

describe('mechanisms', () => {
  it('an already chosen mechanism goes to its handler only', () => {
    marbles(({ expectObservable, flush }) => {
      const log: string[] = [];
      const handler = chain([mechanisms({ KERNEL: [handlerFor('KERNEL', log)], VXLAN: [handlerFor('VXLAN', log)] })], tail(log));
      expectObservable(handler.request(request([mech('KERNEL')], mech('VXLAN')), Context.background).pipe(map((c) => c.mechanism?.type))).toBe('(v|)', {
        v: 'VXLAN',
      });
      flush();
      expect(log).toEqual(['VXLAN request (mechanism VXLAN)', 'next request labels={}']);
    });
  });

  it('an already chosen mechanism that is not supported: UNIMPLEMENTED', () => {
    marbles(({ expectObservable }) => {
      const handler = chain([mechanisms({ KERNEL: [] })], tail([]));
      expectObservable(handler.request(request([mech('KERNEL')], mech('MEMIF')), Context.background)).toBe(
        '#',
        undefined,
        errorWith(status.UNIMPLEMENTED, 'MEMIF', 'KERNEL'),
      );
    });
  });

  it('otherwise the preferences are tried in order and the first that succeeds wins', () => {
    marbles(({ expectObservable, flush }) => {
      const log: string[] = [];
      const handler = chain(
        [mechanisms({ KERNEL: [handlerFor('KERNEL', log)], VXLAN: [handlerFor('VXLAN', log, 'no vxlan here')] })],
        tail(log),
      );
      expectObservable(
        handler.request(request([mech('MEMIF'), mech('VXLAN'), mech('KERNEL', { name: 'nsm-1' }), mech('WIREGUARD')]), Context.background).pipe(
          map((c) => `${c.mechanism?.type} ${c.mechanism?.parameters['name']}`),
        ),
      ).toBe('(k|)', { k: 'KERNEL nsm-1' });
      flush();
      // MEMIF is skipped (unsupported), VXLAN fails, KERNEL succeeds, WIREGUARD is never tried
      expect(log).toEqual(['VXLAN request (mechanism VXLAN)', 'KERNEL request (mechanism KERNEL)', 'next request labels={}']);
    });
  });

  it('each preference is tried on a fresh copy: a failed try leaves no trace on the next one', () => {
    marbles(({ flush }) => {
      const log: string[] = [];
      const handler = chain([mechanisms({ VXLAN: [handlerFor('VXLAN', log, 'broken')], KERNEL: [handlerFor('KERNEL', log)] })], tail(log));
      const original = request([mech('VXLAN'), mech('KERNEL')]);
      handler.request(original, Context.background).subscribe();
      flush();
      expect(log[2]).toBe('next request labels={}');
      // the caller's request is not edited either
      expect(original.connection?.mechanism).toBeUndefined();
      expect(original.connection?.labels).toEqual({});
    });
  });

  it('the chosen preference is copied: parameters set below do not edit the caller’s preference list', () => {
    marbles(({ flush }) => {
      const setName: NetworkServiceElement = {
        request: (req, ctx, next) => {
          (req.connection?.mechanism as Mechanism).parameters['name'] = 'set-below';
          return next.request(req, ctx);
        },
      };
      const handler = chain([mechanisms({ KERNEL: [setName] })], tail([]));
      const original = request([mech('KERNEL')]);
      let result: Connection | undefined;
      handler.request(original, Context.background).subscribe((c) => (result = c));
      flush();
      expect(result?.mechanism?.parameters).toEqual({ name: 'set-below' });
      expect(original.mechanismPreferences[0]?.parameters).toEqual({});
    });
  });

  it('nothing supported: UNIMPLEMENTED (code 12) naming what was offered and what is supported', () => {
    marbles(({ expectObservable }) => {
      const handler = chain([mechanisms({ KERNEL: [], VXLAN: [] })], tail([]));
      const err = errorWith(status.UNIMPLEMENTED, 'offered', 'MEMIF, WIREGUARD', 'supported', 'KERNEL, VXLAN');
      expectObservable(handler.request(request([mech('MEMIF'), mech('WIREGUARD')]), Context.background)).toBe('#', undefined, err);
      expectObservable(handler.request(request([]), Context.background)).toBe('#', undefined, errorWith(status.UNIMPLEMENTED, 'offered', 'none'));
    });
  });

  it('every supported preference failing: an error listing each failure', () => {
    marbles(({ expectObservable }) => {
      const log: string[] = [];
      const handler = chain(
        [mechanisms({ KERNEL: [handlerFor('KERNEL', log, 'no kernel iface')], VXLAN: [handlerFor('VXLAN', log, 'no vxlan port')] })],
        tail(log),
      );
      let got: unknown;
      expectObservable(handler.request(request([mech('KERNEL'), mech('VXLAN')]), Context.background)).toBe(
        '#',
        undefined,
        expect.objectContaining({ message: expect.stringMatching(/KERNEL: no kernel iface.*VXLAN: no vxlan port/) }) as unknown as Error,
      );
      handler.request(request([mech('KERNEL'), mech('VXLAN')]), Context.background).subscribe({ error: (e: unknown) => (got = e) });
      expect(got).toBeInstanceOf(NsmError);
      expect((got as NsmError).code).not.toBe(status.UNIMPLEMENTED);
    });
  });

  it('Close goes through the handler of the connection’s mechanism; an unknown one straight to next', () => {
    marbles(({ flush }) => {
      const log: string[] = [];
      const handler = chain([mechanisms({ KERNEL: [handlerFor('KERNEL', log)], VXLAN: [handlerFor('VXLAN', log)] })], tail(log));
      handler.close(Connection.fromPartial({ id: 'a', mechanism: mech('VXLAN') }), Context.background).subscribe();
      handler.close(Connection.fromPartial({ id: 'b', mechanism: mech('MEMIF') }), Context.background).subscribe();
      handler.close(Connection.fromPartial({ id: 'c' }), Context.background).subscribe();
      flush();
      expect(log).toEqual(['VXLAN close', 'next close', 'next close', 'next close']);
    });
  });
});

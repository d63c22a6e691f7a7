import { defer, of } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../proto/gen/connection.js';
import { PolicyRoute } from '../../proto/gen/connectioncontext.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { policyRoutes } from './policyRoutes.js';
import { marbles } from '../../test/marbles.js';

const policy = (from: string, dstPort = '') => PolicyRoute.fromPartial({ from, proto: from ? '6' : '17', dstPort, routes: [{ prefix: '169.254.30.0/24', nextHop: '' }] });
const a = [policy('169.254.0.10/32', '80')];
const b = [policy(''), policy('169.254.0.11/32')];

/** next records (time, src addresses, policies' from) of each Request and answers with its connection. */
const recording = (scheduler: TestScheduler) => {
  const seen: [number, string[], string[]][] = [];
  const next: NetworkServiceHandler = {
    request: (r) =>
      defer(() => {
        const ip = r.connection!.context!.ipContext!;
        seen.push([scheduler.now(), [...ip.srcIpAddrs], ip.policies.map((p) => p.from)]);
        return of(r.connection!);
      }),
    close: () => of(undefined),
  };
  return { seen, next };
};

describe('policyRoutes (NSE, upstream policyroute)', () => {
  it('each Request carries the latest policies; a refresh swaps the old `from` addresses for the new ones', () => {
    marbles(({ cold, flush, expectSubscriptions }, scheduler) => {
      const policies$ = cold('-a-----b--', { a, b });
      const { seen, next } = recording(scheduler);
      const element = policyRoutes(policies$);
      const handler = chain([element], next);
      const request = NetworkServiceRequest.fromPartial({ connection: { id: 'c', context: { ipContext: { srcIpAddrs: ['169.254.0.1/32'] } } } });
      let conn: Connection | undefined;
      //   first Request at 0 (waits for the first list), refresh at 4 and at 9 (after b)
      cold('x---y----z').subscribe(() =>
        handler.request(NetworkServiceRequest.fromPartial({ ...request, connection: conn ?? request.connection }), Context.background).subscribe((c) => (conn = c)),
      );
      flush();
      expect(seen).toEqual([
        [1, ['169.254.0.1/32', '169.254.0.10/32'], ['169.254.0.10/32']],
        [4, ['169.254.0.1/32', '169.254.0.10/32'], ['169.254.0.10/32']],
        [9, ['169.254.0.1/32', '169.254.0.11/32'], ['', '169.254.0.11/32']],
      ]);
      element.dispose();
      expectSubscriptions(policies$.subscriptions).toBe('^--------!'); // followed until disposed (after the last Request, at 9)
    });
  });

  it('a source that ends without a list gives no policies; the contexts are created when missing', () => {
    marbles(({ cold, flush }, scheduler) => {
      const { seen, next } = recording(scheduler);
      chain([policyRoutes(cold('--|'))], next).request(NetworkServiceRequest.fromPartial({ connection: { id: 'c' } }), Context.background).subscribe();
      flush();
      expect(seen).toEqual([[2, [], []]]);
    });
  });
});

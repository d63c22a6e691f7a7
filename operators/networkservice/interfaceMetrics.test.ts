import { of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { NoopDatapath } from '../../dataplane/noop.js';
import { marbles } from '../../test/marbles.js';
import { sync } from '../../test/sync.js';
import { Context } from '../core/context.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { interfaceMetrics } from './interfaceMetrics.js';

const answer: NetworkServiceHandler = {
  request: (r) => of(Connection.fromPartial(r.connection as Connection)),
  close: () => of(undefined),
};
const request = NetworkServiceRequest.fromPartial({
  connection: { id: 'fwd-1', path: { index: 1, pathSegments: [{ name: 'nsc', id: 'c-1' }, { name: 'fwd', id: 'fwd-1', metrics: { kept: 'yes' } }] } },
});

describe('interfaceMetrics', () => {
  it('puts the latest counter sample of the connection into this hop’s path segment at once, keeping other metrics; later samples wait for the next Request', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const samples = cold('a 9ms b 9ms c', { a: { server_rx_bytes: '42' }, b: { server_rx_bytes: '43' }, c: { server_rx_bytes: '44' } });
      const datapath = Object.assign(new NoopDatapath(), { metrics: (id: string) => (id === 'fwd-1' ? samples : of({})) });
      const answered = chain([interfaceMetrics(datapath)], answer).request(NetworkServiceRequest.fromPartial(request), Context.background);
      expectObservable(answered).toBe('(x|)', { x: expect.objectContaining({ path: expect.objectContaining({ pathSegments: [expect.objectContaining({ metrics: {} }), expect.objectContaining({ metrics: { kept: 'yes', server_rx_bytes: '42' } })] }) }) });
      expectSubscriptions(samples.subscriptions).toBe('(^!)'); // the first sample only: nothing left reading
    });
  });

  it('a datapath without counters, or with none for this connection, leaves the segment as it is', () => {
    const empty = Object.assign(new NoopDatapath(), { metrics: () => of<Record<string, string>>() });
    for (const datapath of [new NoopDatapath(), empty]) {
      const conn = sync(chain([interfaceMetrics(datapath)], answer).request(NetworkServiceRequest.fromPartial(request), Context.background));
      expect(conn.path?.pathSegments[1]?.metrics).toEqual({ kept: 'yes' });
    }
  });
});

import { of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { NoopDatapath } from '../../dataplane/noop.js';
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
  it('puts the datapath counters of the connection into this hop’s path segment, keeping other metrics', () => {
    const datapath = Object.assign(new NoopDatapath(), { metrics: (id: string) => of({ server_interface: `if-${id}`, server_rx_bytes: '42' }) });
    const conn = sync(chain([interfaceMetrics(datapath)], answer).request(NetworkServiceRequest.fromPartial(request), Context.background));
    expect(conn.path?.pathSegments[1]?.metrics).toEqual({ kept: 'yes', server_interface: 'if-fwd-1', server_rx_bytes: '42' });
    expect(conn.path?.pathSegments[0]?.metrics).toEqual({});
  });

  it('a datapath without counters leaves the segment as it is', () => {
    const conn = sync(chain([interfaceMetrics(new NoopDatapath())], answer).request(NetworkServiceRequest.fromPartial(request), Context.background));
    expect(conn.path?.pathSegments[1]?.metrics).toEqual({ kept: 'yes' });
  });
});

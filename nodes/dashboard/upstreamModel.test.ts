import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import type { ConnectionView } from '../../streams/connectionsView.js';
import { graphOf } from '../../streams/meshGraph.js';
import { upstreamModel } from './upstreamModel.js';

const connection: ConnectionView = {
  id: 'c1',
  networkService: 'icmp-responder',
  state: 'UP',
  path: ['nsc', 'nsmgr-0', 'forwarder-0', 'icmp-responder'],
  pathInterfaces: [{}, {}, { client: 'icmp-respo-1', server: 'nsm-1' }, {}],
  srcIps: [],
  dstIps: [],
  interfaces: [],
  hops: [],
  events: [],
  updatedAt: 0,
};

describe('upstreamModel: cmd-dashboard-backend’s /nodes and /edges', () => {
  it('the cluster, the service (apart from its NSE of the same name), a node per segment, interface nodes joined along the path', () => {
    const nses = new Map([['forwarder-0', NetworkServiceEndpoint.fromPartial({ name: 'forwarder-0', networkServiceNames: ['forwarder'] })]]);
    const { nodes, edges } = upstreamModel(graphOf({ at: 0, sources: [], connections: [connection] }, nses));
    const h = createHash('sha256').update('c1').digest('hex');
    expect(nodes.map((n) => n.data)).toEqual([
      { id: 'cluster-local', type: 'cluster', label: 'cluster-local' },
      { id: 'ns--icmp-responder', type: 'service', label: 'icmp-responder', parent: 'cluster-local' },
      { id: 'nsc', type: 'client', label: 'nsc', parent: 'cluster-local' },
      { id: `int-c--${h}--nsc`, type: 'interface', label: 'unknown', parent: 'nsc' },
      { id: 'nsmgr-0', type: 'manager', label: 'nsmgr-0', parent: 'cluster-local' },
      { id: 'forwarder-0', type: 'forwarder', label: 'forwarder-0', parent: 'cluster-local' },
      { id: `int-s--${h}--forwarder-0`, type: 'interface', label: 'nsm-1', parent: 'forwarder-0' },
      { id: `int-c--${h}--forwarder-0`, type: 'interface', label: 'icmp-respo-1', parent: 'forwarder-0' },
      { id: 'icmp-responder', type: 'endpoint', label: 'icmp-responder', parent: 'cluster-local', customData: { networkService: 'ns--icmp-responder' } },
      { id: `int-s--${h}--icmp-responder`, type: 'interface', label: 'unknown', parent: 'icmp-responder' },
    ]);
    expect(edges.map((e) => [e.data.type, e.data.source, e.data.target, e.data.healthy])).toEqual([
      ['interfaceConnection', `int-c--${h}--nsc`, `int-s--${h}--forwarder-0`, true],
      ['interfaceCrossConnection', `int-s--${h}--forwarder-0`, `int-c--${h}--forwarder-0`, true],
      ['interfaceConnection', `int-c--${h}--forwarder-0`, `int-s--${h}--icmp-responder`, true],
    ]);
  });

  it('no connections: no nodes (as upstream: the cluster only appears with a connection)', () => {
    expect(upstreamModel(graphOf({ at: 0, sources: [], connections: [] }, new Map()))).toEqual({ nodes: [], edges: [] });
  });
});

import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint } from '../proto/gen/registry.js';
import { marbles } from '../test/marbles.js';
import type { ConnectionView, MeshView } from './connectionsView.js';
import { graphOf, meshGraph, type MeshGraph } from './meshGraph.js';

const connection = (id: string, path: string[], state = 'UP', rates: Record<string, number> = {}): ConnectionView => ({
  id,
  networkService: 'icmp-responder',
  state,
  path,
  pathInterfaces: path.map(() => ({})),
  srcIps: [],
  dstIps: [],
  interfaces: [],
  hops: [{ name: path[2] ?? '', counters: {}, rates }],
  events: [],
  updatedAt: 0,
});
const view = (...connections: ConnectionView[]): MeshView => ({ at: 7, sources: [{ url: 'unix:///nsmgr.sock', up: true }], connections });
const nse = (name: string, ...services: string[]) => NetworkServiceEndpoint.fromPartial({ name, networkServiceNames: services, url: 'unix:///nsmgr.sock' });
const registry = (...nses: NetworkServiceEndpoint[]) => new Map(nses.map((n) => [n.name, n]));
const kinds = (g: MeshGraph) => Object.fromEntries(g.nodes.map((n) => [n.id, n.kind]));

describe('graphOf: the mesh as nodes and links', () => {
  it('a node per name, its kind from the registry and where it stands in paths; a link per hop with the state and the busiest rate', () => {
    const g = graphOf(view(connection('c1', ['nsc', 'nsmgr-0', 'fw-a', 'nsmgr-0', 'icmp-responder'], 'UP', { client_rx_bytes: 100, client_tx_bytes: 250, client_rx_packets: 9 })), registry(nse('fw-a', 'forwarder'), nse('icmp-responder', 'icmp-responder')));
    expect(kinds(g)).toEqual({ nsc: 'client', 'nsmgr-0': 'manager', 'fw-a': 'forwarder', 'icmp-responder': 'endpoint' });
    expect(g.links.map((l) => [l.from, l.to, l.state, l.traffic])).toEqual([
      ['nsc', 'nsmgr-0', 'UP', 250],
      ['nsmgr-0', 'fw-a', 'UP', 250],
      ['fw-a', 'nsmgr-0', 'UP', 250],
      ['nsmgr-0', 'icmp-responder', 'UP', 250],
    ]);
    expect(g.nodes.find((n) => n.id === 'icmp-responder')).toMatchObject({ registered: true, services: ['icmp-responder'] });
    expect(g.nodes.find((n) => n.id === 'fw-a')?.services).toEqual([]);
    expect(g.at).toBe(7);
  });

  it('registered NSEs without connections are nodes; a forwarder gone from the registry stays while paths name it (by upstream’s name rule)', () => {
    const g = graphOf(view(connection('c1', ['nsc', 'nsmgr-0', 'forwarder-0', 'icmp-responder'], 'DOWN')), registry(nse('forwarder-new', 'forwarder'), nse('idle-nse', 'other')));
    expect(kinds(g)).toEqual({ nsc: 'client', 'nsmgr-0': 'manager', 'forwarder-0': 'forwarder', 'forwarder-new': 'forwarder', 'icmp-responder': 'endpoint', 'idle-nse': 'endpoint' });
    expect(g.nodes.find((n) => n.id === 'forwarder-0')?.registered).toBe(false);
    expect(g.links.every((l) => l.state === 'DOWN' && l.traffic === undefined)).toBe(true);
  });
});

describe('meshGraph', () => {
  it('follows both streams; before the registry answers, the connections alone', () => {
    marbles(({ cold, expectObservable }) => {
      const v1 = view();
      const v2 = view(connection('c1', ['nsc', 'nsmgr-0', 'forwarder-0', 'icmp-responder']));
      const r1 = registry(nse('forwarder-0', 'forwarder'));
      const graphs = meshGraph(cold('a---b', { a: v1, b: v2 }), cold('--r', { r: r1 }));
      expectObservable(graphs).toBe('a-b-c', { a: graphOf(v1, new Map()), b: graphOf(v1, r1), c: graphOf(v2, r1) });
    });
  });
});

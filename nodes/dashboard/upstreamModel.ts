import { createHash } from 'node:crypto';
import type { MeshGraph } from '../../streams/meshGraph.js';

/** A node of upstream cmd-dashboard-backend's `/nodes` (Cytoscape's element shape). */
export interface UpstreamNode {
  readonly data: { readonly id: string; readonly type: string; readonly label: string; readonly parent?: string; readonly customData?: Readonly<Record<string, string>> };
}

/** An edge of upstream's `/edges`. */
export interface UpstreamEdge {
  readonly data: { readonly id: string; readonly type: string; readonly source: string; readonly target: string; readonly healthy?: boolean };
}

const CLUSTER = 'cluster-local';

/**
 * The graph in the model upstream's dashboard UI (cmd-dashboard-ui) reads from the backend's
 * REST API: one `cluster-local` cluster node holding a node per network service (its id
 * `ns--<name>`, apart from an NSE of the same name) and per path
 * segment; a forwarder holds a server and a client interface node per connection (labelled with
 * the names it reports), a client its client one, an endpoint its server one; edges join
 * interfaces along the path (`interfaceConnection`), and a forwarder's two
 * (`interfaceCrossConnection`); `healthy` unless DOWN. Connections are named by a SHA-256, as
 * upstream's (of the client's id here, so a heal keeps the name).
 */
export function upstreamModel(graph: MeshGraph): { nodes: UpstreamNode[]; edges: UpstreamEdge[] } {
  const nodes = new Map<string, UpstreamNode>();
  const edges: UpstreamEdge[] = [];
  const node = (id: string, type: string, parent?: string, customData?: Record<string, string>, label = id) => {
    if (!nodes.has(id)) nodes.set(id, { data: { id, type, label, ...(parent ? { parent } : {}), ...(customData ? { customData } : {}) } });
  };
  const kindOf = new Map(graph.nodes.map((n) => [n.id, n.kind]));
  if (graph.connections.length > 0) node(CLUSTER, 'cluster');
  for (const c of graph.connections) {
    const id = createHash('sha256').update(c.id).digest('hex');
    const healthy = c.state !== 'DOWN';
    const edge = (source: string, target: string, type: string) => edges.push({ data: { id: `conn--${source}--${target}`, type, source, target, healthy } });
    const iface = (side: 'c' | 's', segment: string, label: string | undefined) => {
      const ifaceId = `int-${side}--${id}--${segment}`;
      nodes.set(ifaceId, { data: { id: ifaceId, type: 'interface', label: label ?? 'unknown', parent: segment } });
      return ifaceId;
    };
    // A service and its NSE often share a name: the service's id is set apart.
    const service = `ns--${c.networkService}`;
    node(service, 'service', CLUSTER, undefined, c.networkService);
    let previous: string | undefined;
    c.path.forEach((segment, i) => {
      const kind = kindOf.get(segment) ?? 'manager';
      node(segment, kind, CLUSTER, kind === 'endpoint' ? { networkService: service } : undefined);
      const names = c.pathInterfaces[i] ?? {};
      if (kind === 'client') previous = iface('c', segment, names.client);
      else if (kind === 'endpoint' || kind === 'forwarder') {
        const server = iface('s', segment, names.server);
        if (previous !== undefined) edge(previous, server, 'interfaceConnection');
        previous = server;
        if (kind === 'forwarder') {
          const client = iface('c', segment, names.client);
          edge(server, client, 'interfaceCrossConnection');
          previous = client;
        }
      }
    });
  }
  return { nodes: [...nodes.values()], edges };
}

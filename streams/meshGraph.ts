import { combineLatest, type Observable } from 'rxjs';
import { map, startWith } from 'rxjs/operators';
import type { NetworkServiceEndpoint } from '../proto/gen/registry.js';
import type { ConnectionView, MeshView } from './connectionsView.js';

export type NodeKind = 'client' | 'manager' | 'forwarder' | 'endpoint';

/** A workload or daemon of the mesh: a path segment of some connection, or a registered NSE. */
export interface GraphNode {
  /** Its name (path segments and registrations name the same daemon alike). */
  readonly id: string;
  readonly kind: NodeKind;
  /** In the registry now (a killed forwarder's connections still name it until they heal). */
  readonly registered: boolean;
  /** The network services it serves (registered NSEs). */
  readonly services: readonly string[];
}

/** One hop of one connection: from a path segment to the next. */
export interface GraphLink {
  readonly id: string;
  readonly connection: string;
  readonly from: string;
  readonly to: string;
  readonly state: string;
  /** Bytes/s of the connection's busiest direction at any forwarder, once two samples are known. */
  readonly traffic?: number;
}

/** The mesh as a graph: what the dashboard draws. */
export interface MeshGraph {
  readonly at: number;
  readonly sources: MeshView['sources'];
  readonly nodes: readonly GraphNode[];
  readonly links: readonly GraphLink[];
  readonly connections: readonly ConnectionView[];
}

/** Forwarders register for the network service `forwarder` (upstream's convention). */
const FORWARDER_SERVICE = 'forwarder';

/** Bytes/s of the busiest direction the connection's forwarders report. */
function trafficOf(c: ConnectionView): number | undefined {
  const rates = c.hops.flatMap((h) => Object.entries(h.rates).filter(([k]) => k.endsWith('_bytes')).map(([, v]) => v));
  return rates.length === 0 ? undefined : Math.max(...rates);
}

/**
 * The graph of `view` with the registry's NSEs (`registered`, name → NSE): a node per daemon or
 * workload, a link per hop of each connection. A forwarder is registered for `forwarder` (with no
 * registration, upstream dashboard's rule of names: `forwarder-…`, `fwd-…`), an endpoint for
 * something else; of the rest, a name that begins a path is a client, one inside a path an nsmgr.
 * Registered NSEs with no connection are nodes too.
 */
export function graphOf(view: MeshView, registered: ReadonlyMap<string, NetworkServiceEndpoint>): MeshGraph {
  const isForwarder = (name: string) => registered.get(name)?.networkServiceNames.includes(FORWARDER_SERVICE) ?? /^(forwarder-|fwd-)/.test(name);
  const first = new Set(view.connections.map((c) => c.path[0]));
  const middle = new Set(view.connections.flatMap((c) => c.path.slice(1, -1)));
  const kindOf = (name: string): NodeKind =>
    isForwarder(name) ? 'forwarder' : registered.has(name) ? 'endpoint' : first.has(name) ? 'client' : middle.has(name) ? 'manager' : 'endpoint';
  const names = new Set([...view.connections.flatMap((c) => c.path), ...registered.keys()]);
  const nodes = [...names].sort().map((id): GraphNode => ({ id, kind: kindOf(id), registered: registered.has(id), services: registered.get(id)?.networkServiceNames.filter((s) => s !== FORWARDER_SERVICE) ?? [] }));
  const links = view.connections.flatMap((c) => {
    const traffic = trafficOf(c);
    return c.path.slice(1).map((to, i): GraphLink => ({ id: `${c.id}/${i}`, connection: c.id, from: c.path[i] ?? '', to, state: c.state, ...(traffic !== undefined ? { traffic } : {}) }));
  });
  return { at: view.at, sources: view.sources, nodes, links, connections: view.connections };
}

/**
 * The live graph of a mesh: every connection view with the registry's live NSEs (`registered`;
 * until it first answers, none).
 *
 * ```
 * views       -v1---------v2---
 * registered  ----r1-----------
 * graph       -g(v1,{})-g(v1,r1)-g(v2,r1)-
 * ```
 */
export function meshGraph(views: Observable<MeshView>, registered: Observable<ReadonlyMap<string, NetworkServiceEndpoint>>): Observable<MeshGraph> {
  return combineLatest([views, registered.pipe(startWith(new Map<string, NetworkServiceEndpoint>()))]).pipe(map(([view, nses]) => graphOf(view, nses)));
}

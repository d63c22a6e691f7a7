import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { chain, type NetworkServiceElement, type NetworkServiceHandler } from '../core/networkservice.js';
import { beginServer, type BeginElement } from '../networkservice/begin/begin.js';
import { metadata, type MetadataElement } from '../networkservice/metadata.js';
import { monitor } from '../networkservice/monitor.js';
import { timeout } from '../networkservice/timeout.js';
import { trimPathServer } from '../networkservice/trimPath.js';
import { validateRequest } from '../networkservice/validateRequest.js';
import { updateToken } from '../networkservice/updateToken.js';
import type { TokenGenerator } from '../tools/token.js';
import { updatePath } from '../networkservice/updatePath.js';
import { authorize } from '../authorize/authorize.js';
import { SpiffeIdConnections } from '../authorize/connections.js';
import { ConnectionMonitor } from '../../streams/monitorConnections.js';

export interface EndpointOptions {
  /** This hop's path segment name (NSM_NAME). */
  name: string;
  /** What this endpoint does, after the common elements (IPAM, mechanisms, connect, …). */
  additional?: readonly NetworkServiceElement[];
  /** This hop's token for its own path segment. */
  token: TokenGenerator;
  /** Policy files the authorize element enforces (resolvePolicies); none: allow all. */
  policies?: readonly string[];
  scheduler?: SchedulerLike;
  /** The hop's MonitorConnection store, when an element must publish on it too (vl3MtuServer); default: a new one. */
  monitor?: ConnectionMonitor;
}

/** A served endpoint: its NetworkService handler and its MonitorConnection source. */
export interface Endpoint {
  readonly handler: NetworkServiceHandler;
  readonly monitor: ConnectionMonitor;
  /** Which SPIFFE ID Requested which connection (the monitor's service_connection check). */
  readonly owners: SpiffeIdConnections;
  /** Per-connection state, for leak checks: empty once every connection is closed. */
  readonly state: { readonly begin: BeginElement; readonly metadata: MetadataElement };
}

/**
 * The server chain every NSM hop is built on (upstream chains/endpoint), in upstream order after
 * input validation: updatePath → begin → updateToken → authorize → metadata → timeout → monitor
 * → trimPath → additional.
 */
export function endpoint(options: EndpointOptions): Endpoint {
  const scheduler = options.scheduler ?? asyncScheduler;
  const connections = options.monitor ?? new ConnectionMonitor();
  const begin = beginServer({ scheduler });
  const meta = metadata();
  const owners = new SpiffeIdConnections();
  const policies = options.policies ?? [];
  const handler = chain([
    validateRequest(),
    updatePath(options.name),
    begin,
    updateToken(options.token),
    // Even without policies: it records which caller owns which connection, for the monitor.
    authorize({ policies, connections: owners, scheduler }),
    meta,
    timeout({ scheduler }),
    monitor(connections, { scheduler }),
    trimPathServer(),
    ...(options.additional ?? []),
  ]);
  return { handler, monitor: connections, owners, state: { begin, metadata: meta } };
}

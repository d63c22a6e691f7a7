import type { Connection } from '../../../proto/gen/connection.js';
import { ConnectionContext } from '../../../proto/gen/connectioncontext.js';
import { cloneConnection } from '../../core/clone.js';
import { deepEqual } from '../../tools/deepEqual.js';

type StringMap = { [key: string]: string };

/**
 * Client begin's three-way merge (upstream begin/merge.go): a caller re-requesting an established
 * connection keeps what the chain last settled on (`current`) and applies only the intentional
 * changes it made relative to what it was last given (`returned` vs `requested`).
 */
export function mergeConnection(
  returned: Connection | undefined,
  requested: Connection,
  current: Connection | undefined,
): Connection {
  if (returned === undefined || current === undefined) return requested;
  const conn = cloneConnection(current);
  if (returned.networkServiceEndpointName !== requested.networkServiceEndpointName) {
    conn.networkServiceEndpointName = requested.networkServiceEndpointName;
  }
  conn.context = mergeContext(returned.context, requested.context, current.context);
  return conn;
}

function mergeContext(
  returned: ConnectionContext | undefined,
  requested: ConnectionContext | undefined,
  current: ConnectionContext | undefined,
): ConnectionContext | undefined {
  if (current === undefined) return requested;
  const rv = ConnectionContext.fromPartial(current);
  if (!deepEqual(returned, requested)) {
    rv.ipContext = requested?.ipContext;
    rv.ethernetContext = requested?.ethernetContext;
    rv.dnsContext = requested?.dnsContext;
    rv.MTU = requested?.MTU ?? 0;
    rv.extraContext = mergeMap(returned?.extraContext ?? {}, requested?.extraContext ?? {}, current.extraContext);
  }
  return rv;
}

function mergeMap(returned: StringMap, requested: StringMap, current: StringMap): StringMap {
  const rv: StringMap = { ...current };
  for (const [k, v] of Object.entries(returned)) {
    if (!(k in requested)) delete rv[k];
    else if (requested[k] !== v) rv[k] = requested[k] as string;
  }
  return rv;
}

import { throwError } from 'rxjs';
import type { Connection } from '../../proto/gen/connection.js';
import { invalidArgument } from '../core/errors.js';
import type { NetworkServiceElement } from '../core/networkservice.js';
import { interdomainProblem } from '../tools/interdomain.js';

/**
 * Limits on what a caller may send, so one bad client cannot make a hop hold unbounded state.
 * Keys follow Kubernetes label rules for length (prefix/name ≤ 253 + 63); values are bounded
 * generously since NSM labels carry selectors and template values.
 */
export const requestLimits = {
  maxLabels: 64,
  maxLabelKeyLength: 317,
  maxLabelValueLength: 1024,
  maxPathSegments: 64,
  maxNameLength: 253,
} as const;

/** What is wrong with a connection a caller sent, or undefined when it is acceptable. */
export function connectionProblem(conn: Connection | undefined, requireService: boolean): string | undefined {
  if (conn === undefined) return 'request.connection is required';
  if (requireService && conn.networkService === '') return 'connection.network_service must not be empty';
  if (conn.networkService.length > requestLimits.maxNameLength) {
    return `connection.network_service is longer than ${requestLimits.maxNameLength} characters`;
  }
  for (const [field, name] of [['network_service', conn.networkService], ['network_service_endpoint_name', conn.networkServiceEndpointName]] as const) {
    const problem = interdomainProblem(name);
    if (problem) return `connection.${field} "${name.slice(0, 80)}" ${problem}`;
  }
  const labels = Object.entries(conn.labels ?? {});
  if (labels.length > requestLimits.maxLabels) return `connection.labels has ${labels.length} entries; at most ${requestLimits.maxLabels} are allowed`;
  for (const [k, v] of labels) {
    if (k === '' || k.length > requestLimits.maxLabelKeyLength) {
      return `connection.labels key "${k.slice(0, 40)}" must be 1 to ${requestLimits.maxLabelKeyLength} characters`;
    }
    if (v.length > requestLimits.maxLabelValueLength) {
      return `connection.labels["${k}"] is longer than ${requestLimits.maxLabelValueLength} characters`;
    }
  }
  const path = conn.path;
  if (path && path.pathSegments.length > requestLimits.maxPathSegments) {
    return `connection.path has ${path.pathSegments.length} segments; at most ${requestLimits.maxPathSegments} are allowed`;
  }
  if (path && path.pathSegments.length > 0 && path.index >= path.pathSegments.length) {
    return `connection.path.index ${path.index} is out of range for ${path.pathSegments.length} path segments`;
  }
  return undefined;
}

/**
 * `validateRequest` (first element of every served chain): rejects malformed requests with
 * INVALID_ARGUMENT before any element allocates anything for them.
 */
export function validateRequest(): NetworkServiceElement {
  return {
    request: (request, ctx, next) => {
      const problem = connectionProblem(request.connection, true);
      return problem ? throwError(() => invalidArgument(problem)) : next.request(request, ctx);
    },
    close: (conn, ctx, next) => {
      const problem = connectionProblem(conn, false);
      return problem ? throwError(() => invalidArgument(problem)) : next.close(conn, ctx);
    },
  };
}

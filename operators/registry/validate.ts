import { asyncScheduler, defer, throwError, type SchedulerLike } from 'rxjs';
import type { Match, NetworkService, NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { invalidArgument } from '../core/errors.js';
import { timestampToMs } from '../core/path.js';
import type { NSEElement, NSElement } from '../core/registry.js';
import { parseNsmUrl } from '../tools/nsmUrl.js';
import { interdomainProblem } from '../tools/interdomain.js';

/**
 * Limits on what a registry caller may store, so one bad client cannot make the registry (and
 * every watcher that matches each change against its query) hold or scan unbounded state. They
 * are bounds, not a naming rule: upstream's memory registry accepts any name (upper case, '_',
 * anything), and so does this one; a Kubernetes naming rule belongs to a registry that stores
 * custom resources. Each is far above what upstream's own components register.
 */
export const registryLimits = {
  /** Network services of one NSE: `network_service_names` entries and `network_service_labels` keys. */
  maxNetworkServices: 1024,
  /** Entries of one label map (an NSE's labels for a service, a selector, match metadata). */
  maxLabels: 1024,
  maxLabelKeyLength: 1024,
  maxLabelValueLength: 4096,
  /** `matches` of one network service. */
  maxMatches: 1024,
  /** `routes` of one match. */
  maxRoutes: 1024,
  /** Length of a name (with its `@domain`, if any). */
  maxNameLength: 1024,
} as const;

/** What is wrong with an NSM name (of a network service or an endpoint), or undefined if nothing: not empty, not longer than the limit, at most one `@domain`. */
export function nameProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  if (name.length > registryLimits.maxNameLength) return `is longer than ${registryLimits.maxNameLength} characters`;
  return interdomainProblem(name);
}

const quote = (s: string): string => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);

function labelsProblem(field: string, labels: { readonly [key: string]: string } | undefined): string | undefined {
  const entries = Object.entries(labels ?? {});
  if (entries.length > registryLimits.maxLabels) return `${field} has ${entries.length} entries; at most ${registryLimits.maxLabels} are allowed`;
  for (const [k, v] of entries) {
    if (k.length > registryLimits.maxLabelKeyLength) return `${field} key ${quote(k)} is longer than ${registryLimits.maxLabelKeyLength} characters`;
    if (v.length > registryLimits.maxLabelValueLength) {
      return `${field}[${quote(k)}] is longer than ${registryLimits.maxLabelValueLength} characters`;
    }
  }
  return undefined;
}

function matchProblem(field: string, match: Match): string | undefined {
  const source = labelsProblem(`${field}.source_selector`, match.sourceSelector);
  if (source) return source;
  if (match.routes.length > registryLimits.maxRoutes) {
    return `${field}.routes has ${match.routes.length} entries; at most ${registryLimits.maxRoutes} are allowed`;
  }
  for (const [i, route] of match.routes.entries()) {
    const dest = labelsProblem(`${field}.routes[${i}].destination_selector`, route.destinationSelector);
    if (dest) return dest;
  }
  return match.metadata ? labelsProblem(`${field}.metadata.labels`, match.metadata.labels) : undefined;
}

/** What is wrong with a network service being registered, or undefined when it is acceptable. */
export function networkServiceProblem(ns: NetworkService): string | undefined {
  const name = nameProblem(ns.name);
  if (name) return `network_service.name ${quote(ns.name)} ${name}`;
  if (ns.matches.length > registryLimits.maxMatches) {
    return `network_service.matches has ${ns.matches.length} entries; at most ${registryLimits.maxMatches} are allowed`;
  }
  for (const [i, match] of ns.matches.entries()) {
    const problem = matchProblem(`network_service.matches[${i}]`, match);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * What is wrong with a network service endpoint being registered at scheduler time `now`, or
 * undefined when it is acceptable. An empty `url` is accepted (upstream stores such NSEs; only a
 * dial would fail), a non-empty one must parse as an NSM URL.
 */
export function networkServiceEndpointProblem(nse: NetworkServiceEndpoint, now: number): string | undefined {
  const name = nameProblem(nse.name);
  if (name) return `network_service_endpoint.name ${quote(nse.name)} ${name}`;
  if (nse.networkServiceNames.length > registryLimits.maxNetworkServices) {
    return `network_service_endpoint.network_service_names has ${nse.networkServiceNames.length} entries; at most ${registryLimits.maxNetworkServices} are allowed`;
  }
  for (const [i, service] of nse.networkServiceNames.entries()) {
    const problem = nameProblem(service);
    if (problem) return `network_service_endpoint.network_service_names[${i}] ${quote(service)} ${problem}`;
  }
  const services = Object.entries(nse.networkServiceLabels);
  if (services.length > registryLimits.maxNetworkServices) {
    return `network_service_endpoint.network_service_labels has ${services.length} entries; at most ${registryLimits.maxNetworkServices} are allowed`;
  }
  for (const [service, labels] of services) {
    const problem = nameProblem(service);
    if (problem) return `network_service_endpoint.network_service_labels key ${quote(service)} ${problem}`;
    const labelProblem = labelsProblem(`network_service_endpoint.network_service_labels[${quote(service)}].labels`, labels?.labels);
    if (labelProblem) return labelProblem;
  }
  if (nse.url !== '') {
    try {
      parseNsmUrl(nse.url);
    } catch (err) {
      return `network_service_endpoint.url: ${(err as Error).message}`;
    }
  }
  if (nse.expirationTime !== undefined && timestampToMs(nse.expirationTime) <= now) {
    return `network_service_endpoint.expiration_time (${nse.expirationTime.seconds} s) is not in the future`;
  }
  return undefined;
}

/**
 * `validateNetworkService` (first element of the NS registry server chain): INVALID_ARGUMENT,
 * naming the field, for a Register of a malformed service (see {@link networkServiceProblem}) and
 * for an Unregister without a name. Find queries pass: an empty query NS means "all".
 */
export function validateNetworkService(): NSElement {
  return {
    register: (ns, ctx, next) =>
      defer(() => {
        const problem = networkServiceProblem(ns);
        return problem ? throwError(() => invalidArgument(problem)) : next.register(ns, ctx);
      }),
    unregister: (ns, ctx, next) =>
      defer(() => (ns.name === '' ? throwError(() => invalidArgument('network_service.name must not be empty')) : next.unregister(ns, ctx))),
  };
}

export interface ValidateOptions {
  /** Clock for "expiration_time is in the past". */
  scheduler?: SchedulerLike;
}

/**
 * `validateNetworkServiceEndpoint` (first element of the NSE registry server chain):
 * INVALID_ARGUMENT, naming the field, for a Register of a malformed endpoint (see
 * {@link networkServiceEndpointProblem}: name, service names, label limits, url, an
 * `expiration_time` already past at `scheduler.now()`) and for an Unregister without a name.
 * Find queries pass: an empty query NSE means "all".
 */
export function validateNetworkServiceEndpoint(options: ValidateOptions = {}): NSEElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  return {
    register: (nse, ctx, next) =>
      defer(() => {
        const problem = networkServiceEndpointProblem(nse, scheduler.now());
        return problem ? throwError(() => invalidArgument(problem)) : next.register(nse, ctx);
      }),
    unregister: (nse, ctx, next) =>
      defer(() =>
        nse.name === '' ? throwError(() => invalidArgument('network_service_endpoint.name must not be empty')) : next.unregister(nse, ctx),
      ),
  };
}

import { defer, forkJoin, of, throwError, type Observable } from 'rxjs';
import { catchError, map, mergeMap } from 'rxjs/operators';
import { isIP } from 'node:net';
import type { NetworkService, NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { invalidArgument, notFound, unavailable } from '../core/errors.js';
import type { NSEElement, NSElement } from '../core/registry.js';
import { domainOf, interdomainProblem, isInterdomain, joinDomain, targetOf } from '../tools/interdomain.js';
import { silentLogger, type Logger } from '../tools/log.js';
import { tcpUrl, type NsmUrl } from '../tools/nsmUrl.js';
import { DnsLookupError, type DnsResolver } from '../../streams/dns/resolver.js';
import { registryUrlKey } from './clientUrl.js';

/** Where upstream looks a domain's registry and nsmgr-proxy up: `<service>.<domain>`. */
export const DEFAULT_REGISTRY_SERVICE = 'registry.nsm-system';
export const DEFAULT_NSMGR_PROXY_SERVICE = 'nsmgr-proxy.nsm-system';

/** `ip:port` or `[ip]:port` as a domain: no DNS needed (upstream: a domain that parses as IP and port). */
function literalAddress(domain: string): NsmUrl | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(domain);
  const host = m?.[1] ?? m?.[2];
  return host !== undefined && isIP(host) ? tcpUrl(host, Number(m?.[3])) : undefined;
}

/**
 * The URL of `service` in `domain` (upstream dnsresolve): the port of the first SRV record of
 * `<service>.<domain>`, the first address of the same name, as `tcp://ip:port`. A name that
 * does not exist → NOT_FOUND naming the domain and the record; no answer in time or failing
 * servers → UNAVAILABLE (the caller's retry tries again).
 */
export function resolveDomain(resolver: DnsResolver, service: string, domain: string): Observable<NsmUrl> {
  return defer(() => {
    const literal = literalAddress(domain);
    if (literal) return of(literal);
    const name = `${service}.${domain}`;
    return forkJoin([resolver.srv(name), resolver.ip(name)]).pipe(
      map(([records, ips]) => tcpUrl(ips[0] as string, (records[0] as { port: number }).port)),
      catchError((e: unknown) => {
        const why = e instanceof Error ? e.message : String(e);
        const msg = `cannot resolve domain "${domain}": ${why}`;
        return throwError(() => (e instanceof DnsLookupError && e.reason === 'not-found' ? notFound(msg) : unavailable(msg)));
      }),
    );
  });
}

export interface DnsResolveOptions {
  readonly resolver: DnsResolver;
  /** Default {@link DEFAULT_REGISTRY_SERVICE}. */
  readonly registryService?: string;
  /** Default {@link DEFAULT_NSMGR_PROXY_SERVICE}. */
  readonly nsmgrProxyService?: string;
  /** Told when a domain has no nsmgr-proxy (a floating registry's domain). */
  readonly logger?: Logger;
}

/** The domain of an interdomain name; INVALID_ARGUMENT when there is none or the name is malformed. */
function domainFor(what: string, names: readonly string[]): string {
  const bad = names.map((n) => [n, interdomainProblem(n)] as const).find(([, p]) => p !== undefined);
  if (bad) throw invalidArgument(`${what} "${bad[0]}" ${bad[1]}`);
  const name = names.find(isInterdomain);
  if (name === undefined) throw invalidArgument(`${what} "${names[0] ?? ''}" has no @domain: registry-proxy-dns serves interdomain names only`);
  return domainOf(name);
}

/** The NSE with its name and service names (and the label keys of those) translated. */
function translateNse(nse: NetworkServiceEndpoint, f: (name: string) => string): NetworkServiceEndpoint {
  return {
    ...nse,
    name: f(nse.name),
    networkServiceNames: nse.networkServiceNames.map(f),
    networkServiceLabels: Object.fromEntries(Object.entries(nse.networkServiceLabels).map(([service, labels]) => [f(service), labels])),
  };
}

const withName = (ns: NetworkService, f: (name: string) => string): NetworkService => ({ ...ns, name: f(ns.name) });

/**
 * `nsDnsResolve` (registry-proxy-dns NS chain, upstream dnsresolve): `svc@domain` goes to the
 * registry of `domain` (found through DNS) as `svc`; what comes back is `svc@domain` again.
 *
 * ```
 * find {svc@cluster2} ─▶ SRV+A registry.nsm-system.cluster2 ─▶ next (url) find {svc} ─{svc}─▶ {svc@cluster2}
 * ```
 */
export function nsDnsResolve(options: DnsResolveOptions): NSElement {
  const service = options.registryService ?? DEFAULT_REGISTRY_SERVICE;
  const to = (name: string) => {
    const domain = domainFor('network service', [name]);
    return resolveDomain(options.resolver, service, domain).pipe(map((url) => ({ domain, url })));
  };
  return {
    register: (ns, ctx, next) =>
      defer(() => to(ns.name)).pipe(mergeMap(({ domain, url }) => next.register(withName(ns, targetOf), ctx.with(registryUrlKey, url)).pipe(map((r) => withName(r, (n) => joinDomain(n, domain)))))),
    find: (query, ctx, next) =>
      defer(() => to(query.networkService?.name ?? '')).pipe(
        mergeMap(({ domain, url }) =>
          next
            .find({ ...query, ...(query.networkService ? { networkService: withName(query.networkService, targetOf) } : {}) }, ctx.with(registryUrlKey, url))
            .pipe(map((r) => (r.networkService ? { ...r, networkService: withName(r.networkService, (n) => joinDomain(n, domain)) } : r))),
        ),
      ),
    unregister: (ns, ctx, next) => defer(() => to(ns.name)).pipe(mergeMap(({ url }) => next.unregister(withName(ns, targetOf), ctx.with(registryUrlKey, url)))),
  };
}

/**
 * `nseDnsResolve` (registry-proxy-dns NSE chain, upstream dnsresolve): the domain is that of the
 * first interdomain name among the NSE's name and service names; every name goes to that
 * domain's registry without its suffix (label keys too) and comes back with it. Find results
 * also get the URL of that domain's nsmgr-proxy, the hop other domains dial; a domain without
 * one (a floating registry) leaves the URL the NSE registered with.
 *
 * ```
 * find {svc@cluster2} ─▶ registry.nsm-system.cluster2 + nsmgr-proxy.nsm-system.cluster2 (together)
 *                    ─▶ next find {svc} ─{nse-1, nsmgr-2}─▶ {nse-1@cluster2, tcp://proxy-2}
 * ```
 */
export function nseDnsResolve(options: DnsResolveOptions): NSEElement {
  const registryService = options.registryService ?? DEFAULT_REGISTRY_SERVICE;
  const proxyService = options.nsmgrProxyService ?? DEFAULT_NSMGR_PROXY_SERVICE;
  const logger = options.logger ?? silentLogger;
  const names = (nse: NetworkServiceEndpoint | undefined) => (nse ? [nse.name, ...nse.networkServiceNames].filter((n) => n !== '') : []);
  const to = (nse: NetworkServiceEndpoint | undefined) => {
    const domain = domainFor('network service endpoint', names(nse));
    return resolveDomain(options.resolver, registryService, domain).pipe(map((url) => ({ domain, url })));
  };
  return {
    register: (nse, ctx, next) =>
      defer(() => to(nse)).pipe(
        mergeMap(({ domain, url }) => next.register(translateNse(nse, targetOf), ctx.with(registryUrlKey, url)).pipe(map((r) => translateNse(r, (n) => joinDomain(n, domain))))),
      ),
    find: (query, ctx, next) =>
      defer(() => {
        const domain = domainFor('network service endpoint', names(query.networkServiceEndpoint));
        const proxy = resolveDomain(options.resolver, proxyService, domain).pipe(
          catchError((e: unknown) => {
            logger.info('dnsresolve: the domain has no nsmgr-proxy; endpoints keep their URLs', { domain, error: e instanceof Error ? e.message : String(e) });
            return of(undefined);
          }),
        );
        return forkJoin([resolveDomain(options.resolver, registryService, domain), proxy]).pipe(
          mergeMap(([url, proxyUrl]) =>
            next
              .find({ ...query, ...(query.networkServiceEndpoint ? { networkServiceEndpoint: translateNse(query.networkServiceEndpoint, targetOf) } : {}) }, ctx.with(registryUrlKey, url))
              .pipe(
                map((r) => {
                  if (r.networkServiceEndpoint === undefined) return r;
                  const nse = translateNse(r.networkServiceEndpoint, (n) => joinDomain(n, domain));
                  return { ...r, networkServiceEndpoint: proxyUrl ? { ...nse, url: proxyUrl.href } : nse };
                }),
              ),
          ),
        );
      }),
    unregister: (nse, ctx, next) => defer(() => to(nse)).pipe(mergeMap(({ url }) => next.unregister(translateNse(nse, targetOf), ctx.with(registryUrlKey, url)))),
  };
}

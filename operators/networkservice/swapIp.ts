import { defer, type Observable } from 'rxjs';
import { concatMap, map, take } from 'rxjs/operators';
import type { Mechanism } from '../../proto/gen/connection.js';
import type { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import type { NetworkServiceElement } from '../core/networkservice.js';

/** Internal → external addresses (the map-ip file: `internal: external` lines). */
export type IpMap = Readonly<Record<string, string>>;

const SRC_IP = 'src_ip';
const DST_IP = 'dst_ip';
const ORIG_SRC_IP = 'orig_src_ip';
const ORIG_DST_IP = 'orig_dst_ip';

/** An address through the map; one it does not list stays as it is (upstream blanks it). */
export const swapped = (ips: IpMap, ip: string): string => ips[ip] ?? ip;

/** The tunnel mechanisms of a request (they carry `src_ip`): the preferences and the chosen one. */
function tunnels(request: NetworkServiceRequest): Mechanism[] {
  const all = [...request.mechanismPreferences, ...(request.connection?.mechanism ? [request.connection.mechanism] : [])];
  return all.filter((m) => m.parameters[SRC_IP] !== undefined);
}

/**
 * `swapIpClient(ips$)` (nsmgr-proxy toward another domain, upstream swapip client): on the
 * source side (no `orig_src_ip` yet) the forwarder's tunnel address leaves the domain as its
 * external address — `orig_src_ip` keeps the internal one — and the answer gets it back, so the
 * source forwarder sees its own address and the other side the one it can reach.
 *
 * ```
 * request {src_ip: 10.0.0.1}                      → next {src_ip: 1.2.3.4, orig_src_ip: 10.0.0.1}
 * answer  {src_ip: 1.2.3.4, orig_src_ip: 10.0.0.1} → {src_ip: 10.0.0.1, orig_src_ip: ''}
 * ```
 */
export function swapIpClient(ips$: Observable<IpMap>): NetworkServiceElement {
  return {
    request: (request, ctx, next) =>
      defer(() => ips$.pipe(take(1))).pipe(
        concatMap((ips) => {
          const sourceSide = tunnels(request).filter((m) => !m.parameters[ORIG_SRC_IP]);
          for (const m of sourceSide) {
            const internal = m.parameters[SRC_IP] as string;
            m.parameters[ORIG_SRC_IP] = internal;
            m.parameters[SRC_IP] = swapped(ips, internal);
          }
          return next.request(request, ctx).pipe(
            map((conn) => {
              const params = conn.mechanism?.parameters;
              if (params && sourceSide.length > 0 && params[ORIG_SRC_IP]) {
                params[SRC_IP] = params[ORIG_SRC_IP];
                params[ORIG_SRC_IP] = '';
              }
              return conn;
            }),
          );
        }),
      ),
  };
}

/**
 * `swapIpServer(ips$)` (nsmgr-proxy from another domain, upstream swapip server): on the
 * destination side (the request already has `orig_src_ip`) the other domain's `dst_ip` means
 * nothing here: it is blanked for this domain's forwarder to fill, and the answer carries that
 * forwarder's external address as `dst_ip`, its internal one as `orig_dst_ip`.
 *
 * ```
 * request {src_ip: 1.2.3.4, orig_src_ip: 10.0.0.1, dst_ip: x} → next {…, dst_ip: ''}
 * answer  {dst_ip: 10.1.0.7}                                    → {dst_ip: 5.6.7.8, orig_dst_ip: 10.1.0.7}
 * ```
 */
export function swapIpServer(ips$: Observable<IpMap>): NetworkServiceElement {
  return {
    request: (request, ctx, next) =>
      defer(() => ips$.pipe(take(1))).pipe(
        concatMap((ips) => {
          const destinationSide = tunnels(request).filter((m) => m.parameters[ORIG_SRC_IP]);
          for (const m of destinationSide) {
            m.parameters[DST_IP] = '';
            m.parameters[ORIG_DST_IP] = '';
          }
          return next.request(request, ctx).pipe(
            map((conn) => {
              const params = conn.mechanism?.parameters;
              if (params && destinationSide.length > 0 && params[DST_IP]) {
                const internal = params[DST_IP];
                params[ORIG_DST_IP] = internal;
                params[DST_IP] = swapped(ips, internal);
              }
              return conn;
            }),
          );
        }),
      ),
  };
}

import { defer, of, throwError } from 'rxjs';
import { Connection } from '../proto/gen/connection.js';
import type { IPContext } from '../proto/gen/connectioncontext.js';
import { NetworkServiceRequest } from '../proto/gen/networkservice.js';
import { Context } from '../operators/core/context.js';
import { unavailable } from '../operators/core/errors.js';
import { chain, type NetworkServiceElement, type NetworkServiceHandler } from '../operators/core/networkservice.js';
import { metadata } from '../operators/networkservice/metadata.js';
import { sync } from './sync.js';

// Shared by the IPAM element specs (point2pointIpam, groupIpam, strictIpam, ipamPolicy).

/**
 * chain([metadata, ...ipam], next): next echoes the request's connection, and fails the
 * Requests whose 0-based index is in `failAt`.
 */
export function setup(ipam: NetworkServiceElement | NetworkServiceElement[], options: { failAt?: number[] } = {}) {
  const meta = metadata();
  let n = 0;
  const seen: NetworkServiceRequest[] = [];
  const next: NetworkServiceHandler = {
    request: (r) =>
      defer(() => {
        seen.push(NetworkServiceRequest.fromPartial(r));
        return options.failAt?.includes(n++) ? throwError(() => unavailable('next failed')) : of(Connection.fromPartial(r.connection!));
      }),
    close: () => of(undefined),
  };
  const handler = chain([meta, ...(Array.isArray(ipam) ? ipam : [ipam])], next);
  const request = (id: string, ip: Partial<IPContext> = {}) =>
    sync(handler.request(NetworkServiceRequest.fromPartial({ connection: { id, networkService: 'ns', context: { ipContext: ip } } }), Context.background));
  const refresh = (conn: Connection, ip?: Partial<IPContext>) => {
    const c = Connection.fromPartial(conn);
    if (ip) c.context!.ipContext = { ...c.context!.ipContext!, ...ip };
    return sync(handler.request(NetworkServiceRequest.fromPartial({ connection: c }), Context.background));
  };
  const close = (conn: Connection | string) =>
    sync(handler.close(typeof conn === 'string' ? Connection.fromPartial({ id: conn }) : conn, Context.background));
  return { handler, meta, seen, request, refresh, close };
}

/** The addresses and routes of a connection, in one comparable shape. */
export const ipOf = (c: Connection) => {
  const ip = c.context!.ipContext!;
  return { dst: ip.dstIpAddrs, src: ip.srcIpAddrs, srcRoutes: ip.srcRoutes.map((r) => r.prefix), dstRoutes: ip.dstRoutes.map((r) => r.prefix) };
};
/** upstream validateConn: one pair, the routes pointing at the other side. */
export const pair = (dst: string, src: string) => ({ dst: [dst], src: [src], srcRoutes: [dst], dstRoutes: [src] });

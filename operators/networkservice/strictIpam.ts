import { defer, type Observable } from 'rxjs';
import { map } from 'rxjs/operators';
import type { Connection } from '../../proto/gen/connection.js';
import type { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { ContextKey, type Context } from '../core/context.js';
import type { NetworkServiceElement, NetworkServiceHandler } from '../core/networkservice.js';
import { DualStackPool, parseCidr, tryParseCidr, type IpAddress } from '../tools/cidr.js';
import { metadataOf } from './metadata.js';
import { deleteAddr, deleteRoute, ipContextOf } from './point2pointIpam.js';

/** The addresses one connection holds in strict's pool. */
interface Held {
  readonly addrs: readonly IpAddress[];
  release(): void;
}

/**
 * `strictIpam(inner, prefixes)` (NSM_IPAM_POLICY=strict, upstream strictipam): before `inner`
 * (the IPAM) runs, every client-sent src/dst address that is not inside `prefixes`, is not a
 * CIDR, or is held by another connection is removed from the request with its route (a dst
 * address's route in `src_routes`, a src address's in `dst_routes`), so `inner` allocates
 * instead of keeping it. After a successful Request the connection's addresses inside
 * `prefixes` are marked held; Close (or the connection's next Request) releases them.
 *
 * Upstream removes the bad addresses one by one (it does not clear the whole IPContext).
 * Unlike upstream, which trusts the addresses a Close carries, the held set is per connection
 * (in its metadata), and a connection's own addresses stay valid on its refresh.
 */
export function strictIpam(inner: NetworkServiceElement, prefixes: readonly string[]): NetworkServiceElement {
  const allowed = new DualStackPool();
  for (const p of prefixes) allowed.add(parseCidr(p));
  const free = new DualStackPool();
  for (const p of allowed.prefixes()) free.add(parseCidr(p));
  const key = new ContextKey<Held>('strictIpam');

  const hold = (addrs: IpAddress[]): Held => {
    let released = false;
    const taken = addrs.filter((a) => free.of(a.family).pullAddress(a));
    return {
      addrs: taken,
      release: () => {
        if (released) return;
        released = true;
        for (const a of taken) free.of(a.family).release(a);
      },
    };
  };
  const addressOf = (s: string): IpAddress | undefined => {
    const c = tryParseCidr(s);
    return c === undefined ? undefined : { family: c.family, value: c.address };
  };

  const innerRequest = (request: NetworkServiceRequest, ctx: Context, next: NetworkServiceHandler): Observable<Connection> =>
    inner.request ? inner.request(request, ctx, next) : next.request(request, ctx);

  return {
    request: (request, ctx, next) =>
      defer(() => {
        const meta = metadataOf(ctx);
        const ip = ipContextOf(request);
        const mine = meta.get(key)?.addrs ?? [];
        const valid = (s: string): boolean => {
          const a = addressOf(s);
          if (a === undefined || !allowed.has(a)) return false;
          return free.has(a) || mine.some((m) => m.family === a.family && m.value === a.value);
        };
        for (const addr of ip.srcIpAddrs.filter((a) => !valid(a))) {
          deleteAddr(ip.srcIpAddrs, addr);
          deleteRoute(ip.dstRoutes, addr);
        }
        for (const addr of ip.dstIpAddrs.filter((a) => !valid(a))) {
          deleteAddr(ip.dstIpAddrs, addr);
          deleteRoute(ip.srcRoutes, addr);
        }
        return innerRequest(request, ctx, next).pipe(
          map((conn) => {
            const got = conn.context?.ipContext;
            const addrs = [...(got?.srcIpAddrs ?? []), ...(got?.dstIpAddrs ?? [])]
              .map(addressOf)
              .filter((a): a is IpAddress => a !== undefined && allowed.has(a));
            meta.delete(key)?.release();
            meta.set(key, hold(addrs));
            return conn;
          }),
        );
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        metadataOf(ctx).delete(key)?.release();
        return inner.close ? inner.close(conn, ctx, next) : next.close(conn, ctx);
      }),
  };
}

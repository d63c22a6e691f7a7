import { isIP } from 'node:net';
import { Observable, type Subject } from 'rxjs';
import type { Connection, Mechanism } from '../../proto/gen/connection.js';
import { invalidArgument } from '../../operators/core/errors.js';
import { allocateVni } from './vni.js';

/** What the kernel and OVS datapaths share about mechanisms, tunnels and running their work. */
export const vxlanParam = (m: Mechanism, key: string): string => m.parameters[key] ?? '';

/** The id of the path's first segment: the client's connection id, stable across heals. */
export function firstId(conn: Connection): string {
  return conn.path?.pathSegments[0]?.id || conn.id;
}

/**
 * Completes an incoming VXLAN mechanism on the forwarder that serves it: its tunnel address and
 * port, and a VNI (the one asked for, the one it had, or a free one). Returns the VNI.
 */
export function acceptTunnel(incoming: Mechanism, tunnelIp: string, port: number, had: number | undefined, used: ReadonlySet<number>): number {
  incoming.parameters['dst_ip'] = tunnelIp;
  incoming.parameters['dst_port'] ||= String(port);
  const vni = Number(vxlanParam(incoming, 'vni')) || had || allocateVni(vxlanParam(incoming, 'src_ip'), tunnelIp, used);
  incoming.parameters['vni'] = String(vni);
  return vni;
}

/** This forwarder's and the other node's tunnel addresses, and the UDP port, of a checked VXLAN mechanism. */
export function tunnelEnds(t: Mechanism, weAreServer: boolean, defaultPort: number): { own: string; peer: string; port: string } {
  const [own, peer] = weAreServer ? [vxlanParam(t, 'dst_ip'), vxlanParam(t, 'src_ip')] : [vxlanParam(t, 'src_ip'), vxlanParam(t, 'dst_ip')];
  return { own, peer, port: vxlanParam(t, 'dst_port') || String(defaultPort) };
}

/** Takes `id`'s entry out of a datapath's programmed connections and tells its readers (metrics) it is gone. */
export function takeProgrammed<P extends { readonly removed: Subject<void> }>(programmed: Map<string, P>, id: string): P | undefined {
  const p = programmed.get(id);
  if (p === undefined) return undefined;
  programmed.delete(id);
  p.removed.next();
  p.removed.complete();
  return p;
}

/** A VXLAN mechanism's parameters, checked before anything is made. */
export function checkTunnel(m: Mechanism): void {
  for (const key of ['src_ip', 'dst_ip', 'vni']) if (!vxlanParam(m, key)) throw invalidArgument(`VXLAN mechanism has no ${key} parameter`);
  for (const key of ['src_ip', 'dst_ip']) if (!isIP(vxlanParam(m, key))) throw invalidArgument(`VXLAN mechanism: ${key} "${vxlanParam(m, key)}" is not an IP address`);
  const port = vxlanParam(m, 'dst_port');
  if (port && !/^\d{1,5}$/.test(port)) throw invalidArgument(`VXLAN mechanism: dst_port "${port}" is not a port number`);
  const vni = Number(vxlanParam(m, 'vni'));
  if (!Number.isInteger(vni) || vni < 1 || vni > 0xffffff) throw invalidArgument(`VXLAN mechanism: vni "${vxlanParam(m, 'vni')}" is not 1–16777215`);
}

/**
 * Runs datapath work to its end even if the caller unsubscribes (half-made interfaces are
 * worse than a late answer); work finished for a caller that left is undone with `orphaned`.
 */
export function runToEnd<T>(work: () => Promise<T>, orphaned?: () => Promise<void>): Observable<T> {
  return new Observable<T>((subscriber) => {
    work().then(
      (value) => {
        if (subscriber.closed) void orphaned?.().catch(() => undefined);
        else {
          subscriber.next(value);
          subscriber.complete();
        }
      },
      (e: unknown) => subscriber.error(e),
    );
  });
}

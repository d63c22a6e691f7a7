import { createHash } from 'node:crypto';
import { defer, EMPTY, lastValueFrom, Subject, type Observable } from 'rxjs';
import { distinctUntilChanged, filter, map, shareReplay, takeUntil } from 'rxjs/operators';
import type { Connection, Mechanism } from '../../proto/gen/connection.js';
import { invalidArgument, unimplemented } from '../../operators/core/errors.js';
import type { CrossConnect, Datapath } from '../datapath.js';
import { segmentMetrics } from '../segmentMetrics.js';
import { exec } from '../kernel/exec.js';
import { configLines, interfaceConfig, teardownLines, type InterfaceConfig, type Side } from '../kernel/ipContext.js';
import { aliasFor, checkInterfaceName, interfaceNameFor, policyTables, staleLinks } from '../kernel/names.js';
import { acceptTunnel, checkTunnel, firstId, runToEnd, takeProgrammed, tunnelEnds, vxlanParam } from '../kernel/mechanism.js';
import { netnsIdentity, openNetns } from '../kernel/netns.js';
import { offloadsOff } from './ethtool.js';
import type { OvsdbValue } from './ovsdb.js';
import type { OvsdbSession } from './ovsdbSession.js';
import { addFlows, crossConnect, deleteFlows, type OpenFlowBridge } from './openflow.js';
import { ovsdbTables, type TableRows } from './ovsdbTables.js';
import { addPort, deletePorts, ensureBridge, mapEntries, otherConfig, portsMarked, vswitchdApplied } from './vswitch.js';

export interface OvsDatapathOptions {
  /** The forwarder's name: its ports carry it (external_ids `nsm-rx-forwarder`), so a successor finds them. */
  readonly owner: string;
  /** The connection to ovsdb-server, made again after it ends. */
  readonly ovsdb: OvsdbSession;
  /** The bridge (NSM_BRIDGE_NAME, upstream default br-nsm) and ovs-vswitchd's run directory (its management sockets). */
  readonly bridge: OpenFlowBridge;
  /** `netdev` (the userspace datapath: no kernel module) or `system`. */
  readonly datapathType: string;
  /** Path of the netns ovs-vswitchd runs in (a node's), where the bridge's veth ends and VXLAN devices are made. */
  readonly nodeNetns: string;
  /** This node's underlay address for VXLAN (NSM_TUNNEL_IP), in `nodeNetns`; without it only local connections work. */
  readonly tunnelIp?: string;
  /** NSM_VXLAN_PORT (default 4789). */
  readonly vxlanPort?: number;
}

/** One workload side: its interface in the workload's netns, and the veth end that is the bridge's port. */
interface Attached {
  readonly side: Side;
  readonly url: string;
  readonly name: string;
  readonly port: string;
  /** Its interface alias and its port's mark: this side of the client's connection (whichever forwarder made it). */
  readonly alias: string;
  readonly config: InterfaceConfig;
}

interface Programmed {
  /** What was joined (netns and names of each side, the tunnel); a different one on refresh (a heal's new endpoint) is made anew. */
  readonly shape: string;
  readonly cookie: bigint;
  /** Emits when it is removed: its metrics streams complete. */
  readonly removed: Subject<void>;
  readonly sides: Attached[];
  /** The VXLAN device that is the bridge's port toward the other node, once made. */
  tunnelPort?: string;
  readonly vni?: number;
}

/** VXLAN's overhead over IPv4: what the workload side's MTU leaves for it on the underlay. */
const VXLAN_OVERHEAD = 50;

const OWNER = 'nsm-rx-forwarder';
const CONNECTION = 'nsm-rx-connection';
/** The workload side's alias (`nsm-rx/<side>/<client's id>`): a successor of another name finds a dead forwarder's port by it. */
const SIDE = 'nsm-rx-side';

/** 64 bits of the connection id: the cookie of its flows. */
const cookieOf = (id: string): bigint => createHash('sha256').update(id).digest().readBigUInt64BE(0) || 1n;

/** The bridge-side veth end's name: `o` and 14 hex digits of the connection and side (an OVS port name, ≤ 15 characters). */
const portName = (id: string, side: Side | 'tunnel'): string => `o${createHash('sha256').update(`${id}/${side}`).digest('hex').slice(0, 14)}`;

const nsenterIp = (path: string, lines: readonly string[]) => lastValueFrom(exec('nsenter', [`--net=${path}`, 'ip', '-batch', '-'], `${lines.join('\n')}\n`), { defaultValue: '' });

/**
 * Open vSwitch as a forwarder datapath (upstream cmd-forwarder-ovs, sdk-ovs): each workload side
 * is a veth pair whose outer end is a port of the bridge, joined to the other side by two flows
 * carrying the connection's cookie. Ports are marked with the forwarder's name and the
 * connection, so `start` removes what a crashed predecessor left (its ports and, by their
 * cookies, its flows) and nothing else. The userspace datapath needs userspace TSO or, without
 * it, TX checksum offload off on both veth ends (TCP breaks otherwise). A remote side is a kernel VXLAN device in the node's
 * netns as a port (OVS's own vxlan ports need the underlay NIC in a userspace bridge), and the
 * workload side's MTU leaves room for VXLAN's 50 bytes, since OVS does not fragment.
 */
export class OvsDatapath implements Datapath {
  readonly name = 'ovs';
  private readonly programmed = new Map<string, Programmed>();
  private readonly usedVnis = new Set<number>();
  private readonly port: number;
  /** The bridge's interfaces' statistics, from one OVSDB monitor while anyone reads them. */
  private readonly interfaces: Observable<TableRows>;

  /**
   * The userspace datapath without userspace TSO takes packets without their offload metadata:
   * TX checksum offload must be off on its veths (and GRO on its VXLAN devices). With
   * userspace-tso-enable it reads that metadata, and TCP runs at several times the speed.
   */
  private readonly turnOffloadsOff: boolean;

  private constructor(
    private readonly options: OvsDatapathOptions,
    userspaceTso: boolean,
  ) {
    this.turnOffloadsOff = options.datapathType === 'netdev' && !userspaceTso;
    this.port = options.vxlanPort ?? 4789;
    this.interfaces = ovsdbTables(() => options.ovsdb.client(), 'Open_vSwitch', { Interface: ['name', 'statistics'] }).pipe(shareReplay({ bufferSize: 1, refCount: true }));
  }

  /**
   * A connection's interface counters as path-segment metrics, from OVS's statistics of the
   * bridge ports (ovs-vswitchd refreshes them every 5 s): the workload interface's view, so the
   * port's rx is its tx. Completes when the connection is unprogrammed.
   *
   * ```
   * Interface rows  -s1-----s2------…
   * metrics         -m1-----m2--|    (unprogram)
   * ```
   */
  metrics(connectionId: string): Observable<Record<string, string>> {
    return defer(() => {
      const p = this.programmed.get(connectionId);
      if (p === undefined) return EMPTY;
      const prefix = (side: Side) => (side === 'client' ? 'server_' : 'client_');
      return this.interfaces.pipe(
        map((rows) => {
          const byName = new Map([...(rows.get('Interface')?.values() ?? [])].map((r) => [String(r['name']), mapEntries(r['statistics'])]));
          return p.sides.flatMap((a) => {
            const s = byName.get(a.port);
            if (s === undefined) return [];
            const n = (k: string) => Number(s[k] ?? 0);
            return [segmentMetrics(prefix(a.side), a.name, { rx: { bytes: n('tx_bytes'), packets: n('tx_packets'), dropped: n('tx_dropped') }, tx: { bytes: n('rx_bytes'), packets: n('rx_packets'), dropped: n('rx_dropped') } })];
          });
        }),
        filter((parts) => parts.length > 0),
        map((parts) => Object.assign({}, ...parts) as Record<string, string>),
        distinctUntilChanged((a, b) => JSON.stringify(a) === JSON.stringify(b)),
        takeUntil(p.removed),
      );
    });
  }

  /** Makes sure the bridge exists, removes a predecessor's ports and flows, and returns the datapath. */
  static async start(options: OvsDatapathOptions): Promise<OvsDatapath> {
    const ovsdb = await options.ovsdb.client();
    await ensureBridge(ovsdb, options.bridge.bridge, options.datapathType);
    await vswitchdApplied(ovsdb);
    const dp = new OvsDatapath(options, (await otherConfig(ovsdb))['userspace-tso-enable'] === 'true');
    await dp.removeLeftovers();
    return dp;
  }

  /** Connections programmed now (tests check Close leaves none). */
  get size(): number {
    return this.programmed.size;
  }

  incomingMechanisms(preferences: readonly Mechanism[]): Mechanism[] {
    return preferences.filter((m) => (m.cls === 'LOCAL' && m.type === 'KERNEL') || (m.cls === 'REMOTE' && m.type === 'VXLAN' && this.options.tunnelIp !== undefined));
  }

  outgoingPreferences(remote: boolean, connection: Connection): Mechanism[] {
    if (remote) return this.options.tunnelIp === undefined ? [] : [{ cls: 'REMOTE', type: 'VXLAN', parameters: { src_ip: this.options.tunnelIp, src_port: String(this.port) } }];
    // The name it has here, else one no other connection of this forwarder holds.
    const endpointName = (p: Programmed | undefined) => p?.sides.find((a) => a.side === 'endpoint')?.name;
    const name = endpointName(this.programmed.get(connection.id)) ?? interfaceNameFor(connection.networkService, firstId(connection), [...this.programmed.values()].map(endpointName));
    return [{ cls: 'LOCAL', type: 'KERNEL', parameters: { name } }];
  }

  program(x: CrossConnect): Observable<Mechanism> {
    return runToEnd(
      () => this.make(x),
      () => this.remove(x.incoming.id),
    );
  }

  unprogram(x: CrossConnect): Observable<void> {
    return runToEnd(() => this.remove(x.incoming.id));
  }

  private side(side: Side, m: Mechanism, conn: Connection, id: string, mtuCap: number): Attached {
    const url = m.parameters['inodeURL'];
    if (!url) throw invalidArgument(`${side} KERNEL mechanism has no inodeURL parameter (the netns to put the interface in)`);
    const name = checkInterfaceName(m.parameters['name'] || interfaceNameFor(conn.networkService, firstId(conn)), `${side} KERNEL mechanism`);
    const config = interfaceConfig(conn.context, side, name, policyTables(aliasFor(side, firstId(conn))));
    // Across a tunnel OVS cannot fragment: the workload sends what fits in the VXLAN device.
    const mtu = mtuCap > 0 && (config.mtu === 0 || config.mtu > mtuCap) ? mtuCap : config.mtu;
    return { side, url, name, port: portName(id, side), alias: aliasFor(side, firstId(conn)), config: { ...config, mtu } };
  }

  private async make(x: CrossConnect): Promise<Mechanism> {
    const id = x.incoming.id;
    const incoming: Mechanism = { ...(x.incoming.mechanism as Mechanism), parameters: { ...x.incoming.mechanism?.parameters } };
    const outgoing = x.outgoing.mechanism;
    if (outgoing === undefined) throw invalidArgument('the next hop answered without a mechanism');
    let vni: number | undefined;
    if (incoming.type === 'VXLAN') {
      if (outgoing.type === 'VXLAN') throw unimplemented('VXLAN to VXLAN (a transit forwarder) is not supported by the OVS datapath');
      vni = acceptTunnel(incoming, this.options.tunnelIp as string, this.port, this.programmed.get(id)?.vni, this.usedVnis);
    }
    const tunnel = incoming.type === 'VXLAN' ? incoming : outgoing.type === 'VXLAN' ? outgoing : undefined;
    if (tunnel) checkTunnel(tunnel);
    const cap = tunnel ? (await this.underlayMtu()) - VXLAN_OVERHEAD : 0;
    const sides = [
      ...(incoming.type === 'KERNEL' ? [this.side('client', incoming, x.incoming, id, cap)] : []),
      ...(outgoing.type === 'KERNEL' ? [this.side('endpoint', outgoing, x.outgoing, id, cap)] : []),
    ];
    const shape = JSON.stringify([sides.map((a) => [a.side, netnsIdentity(a.url), a.name]), tunnel && ['src_ip', 'dst_ip', 'vni', 'dst_port'].map((k) => vxlanParam(tunnel, k))]);
    // A refresh re-applies the addresses and routes; the ports and flows stay.
    const before = this.programmed.get(id);
    if (before?.shape === shape) {
      for (const a of sides) await this.configure(a, false);
      return incoming;
    }
    if (before) await this.remove(id);
    const made: Programmed = { shape, cookie: cookieOf(id), removed: new Subject<void>(), sides: [], ...(vni !== undefined ? { vni } : {}) };
    this.programmed.set(id, made);
    if (vni !== undefined) this.usedVnis.add(vni);
    try {
      // The sides and the tunnel are independent: made side by side, each known before it exists so a failure removes it.
      const parts = sides.map(async (a) => {
        made.sides.push(a);
        // A name taken by this side's interface from a dead forwarder (of any name): that goes first.
        await this.createVeth(a).catch(async (e: unknown) => {
          if (!/File exists/.test(String(e))) throw e;
          await this.removeStale(a);
          await this.createVeth(a);
        });
        await this.mark(a.port, id, made.cookie, { [SIDE]: a.alias });
        await this.configure(a, true);
      });
      if (tunnel) {
        const port = (made.tunnelPort = portName(id, 'tunnel'));
        parts.push(this.createVxlan(port, tunnel, incoming.type === 'VXLAN').then(() => this.mark(port, id, made.cookie, {})));
      }
      const failed = (await Promise.allSettled(parts)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const ports = [...made.sides.map((a) => a.port), ...(made.tunnelPort ? [made.tunnelPort] : [])] as [string, string];
      // The flows name the ports, which have OpenFlow numbers once ovs-vswitchd has taken them.
      await vswitchdApplied(await this.options.ovsdb.client());
      await lastValueFrom(addFlows(this.options.bridge, made.cookie, crossConnect(...ports)), { defaultValue: undefined });
    } catch (e) {
      await this.remove(id);
      throw e;
    }
    return incoming;
  }

  /** The veth pair of a workload side: its interface in the workload's netns, its other end in the node's. */
  private async createVeth(a: Attached): Promise<void> {
    const netns = openNetns(a.url);
    try {
      await lastValueFrom(exec('ip', ['link', 'add', a.port, 'netns', this.options.nodeNetns, 'up', 'type', 'veth', 'peer', 'name', a.name, 'netns', netns.path]), { defaultValue: '' });
      if (this.turnOffloadsOff) {
        const off = (dev: string, path: string) => lastValueFrom(offloadsOff(dev, path, ['tx']), { defaultValue: undefined });
        await Promise.all([off(a.port, this.options.nodeNetns), off(a.name, netns.path)]);
      }
    } finally {
      netns.close();
    }
  }

  /** A kernel VXLAN device in the node's netns (OVS's own vxlan ports need the underlay in a bridge on the userspace datapath). */
  private async createVxlan(port: string, t: Mechanism, weAreServer: boolean): Promise<void> {
    const ends = tunnelEnds(t, weAreServer, this.port);
    await nsenterIp(this.options.nodeNetns, [`link add ${port} type vxlan id ${vxlanParam(t, 'vni')} local ${ends.own} remote ${ends.peer} dstport ${ends.port}`, `link set dev ${port} up`]);
    if (this.turnOffloadsOff) await lastValueFrom(offloadsOff(port, this.options.nodeNetns, ['tx', 'gro']), { defaultValue: undefined });
  }

  /** Adds `port` to the bridge, marked with this forwarder, the connection, its cookie and `more`. */
  private mark(port: string, id: string, cookie: bigint, more: Readonly<Record<string, string>>): Promise<void> {
    return this.options.ovsdb.client().then((c) => addPort(c, this.options.bridge.bridge, { name: port, externalIds: { [OWNER]: this.options.owner, [CONNECTION]: id, cookie: cookie.toString(), ...more } }));
  }

  /**
   * What a dead forwarder (of any name) left for side `a` of the same client connection: its
   * interface in the workload's netns (a foreign one of that name is an error) and its port on
   * the bridge, with that port's flows.
   */
  private async removeStale(a: Attached): Promise<void> {
    const netns = openNetns(a.url);
    try {
      const present = JSON.parse((await lastValueFrom(exec('nsenter', [`--net=${netns.path}`, 'ip', '-j', 'link', 'show']), { defaultValue: '' })) || '[]') as { ifname: string; ifalias?: string }[];
      const stale = staleLinks(present, a.name, a.alias);
      if (stale.length > 0) await nsenterIp(netns.path, stale.map((l) => `link del dev ${l}`));
    } finally {
      netns.close();
    }
    await this.removePorts(await portsMarked(await this.options.ovsdb.client(), SIDE, a.alias));
  }

  /** The MTU of the interface that holds the tunnel address. */
  private async underlayMtu(): Promise<number> {
    const out = await lastValueFrom(exec('nsenter', [`--net=${this.options.nodeNetns}`, 'ip', '-j', 'addr', 'show']), { defaultValue: '[]' });
    const links = JSON.parse(out) as { mtu: number; addr_info: { local: string }[] }[];
    return links.find((l) => l.addr_info.some((a) => a.local === this.options.tunnelIp))?.mtu ?? 1500;
  }

  /** The workload side's addresses, routes and rules (and, when new, its alias) in its netns. */
  private async configure(a: Attached, fresh: boolean): Promise<void> {
    const netns = openNetns(a.url);
    try {
      await nsenterIp(netns.path, [...(fresh ? [`link set dev ${a.name} alias ${a.alias}`] : []), ...configLines(a.name, a.config)]);
    } finally {
      netns.close();
    }
  }

  private async remove(id: string): Promise<void> {
    const p = takeProgrammed(this.programmed, id);
    if (p === undefined) return;
    await lastValueFrom(deleteFlows(this.options.bridge, p.cookie), { defaultValue: undefined });
    if (p.vni !== undefined) this.usedVnis.delete(p.vni);
    const ports = [...p.sides.map((a) => a.port), ...(p.tunnelPort ? [p.tunnelPort] : [])];
    await deletePorts(await this.options.ovsdb.client(), this.options.bridge.bridge, ports);
    for (const port of ports) await nsenterIp(this.options.nodeNetns, [`link del dev ${port}`]).catch(() => undefined);
    for (const a of p.sides) {
      // The bridge's veth end took the workload's with it; policy rules outlive the interface.
      const rules = teardownLines(a.config);
      if (rules.length > 0) {
        const netns = openNetns(a.url);
        try {
          await nsenterIp(netns.path, rules).catch(() => undefined);
        } finally {
          netns.close();
        }
      }
    }
  }

  /** A predecessor's ports (marked with this forwarder's name), their flows (by cookie) and their veths. */
  private async removeLeftovers(): Promise<void> {
    await this.removePorts(await portsMarked(await this.options.ovsdb.client(), OWNER, this.options.owner));
  }

  /** Ports `ports`, the flows of their cookies, and their devices in the node's netns. */
  private async removePorts(ports: readonly string[]): Promise<void> {
    if (ports.length === 0) return;
    const ovsdb = await this.options.ovsdb.client();
    const rows = await ovsdb.transact('Open_vSwitch', ports.map((name) => ({ op: 'select', table: 'Port', where: [['name', '==', name]], columns: ['external_ids'] })));
    const cookies = new Set(rows.flatMap((r) => ((r['rows'] as { external_ids: OvsdbValue }[] | undefined) ?? []).map((row) => mapEntries(row.external_ids)['cookie'])).filter((c): c is string => c !== undefined));
    for (const cookie of cookies) await lastValueFrom(deleteFlows(this.options.bridge, BigInt(cookie)), { defaultValue: undefined });
    await deletePorts(ovsdb, this.options.bridge.bridge, ports);
    for (const port of ports) await nsenterIp(this.options.nodeNetns, [`link del dev ${port}`]).catch(() => undefined);
  }
}

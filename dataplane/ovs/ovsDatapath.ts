import { createHash } from 'node:crypto';
import { defer, from, lastValueFrom, type Observable } from 'rxjs';
import type { Connection, Mechanism } from '../../proto/gen/connection.js';
import { invalidArgument, unimplemented } from '../../operators/core/errors.js';
import type { CrossConnect, Datapath } from '../datapath.js';
import { exec } from '../kernel/exec.js';
import { configLines, interfaceConfig, teardownLines, type InterfaceConfig, type Side } from '../kernel/ipContext.js';
import { aliasFor, checkInterfaceName, interfaceNameFor, policyTables } from '../kernel/names.js';
import { openNetns } from '../kernel/netns.js';
import { txChecksumOff } from './ethtool.js';
import type { OvsdbClient, OvsdbValue } from './ovsdb.js';
import { addFlows, crossConnect, deleteFlows, type OpenFlowBridge } from './openflow.js';
import { addPort, deletePorts, ensureBridge, mapEntries, portsMarked } from './vswitch.js';

export interface OvsDatapathOptions {
  /** The forwarder's name: its ports carry it (external_ids `nsm-rx-forwarder`), so a successor finds them. */
  readonly owner: string;
  readonly ovsdb: OvsdbClient;
  /** The bridge (NSM_BRIDGE_NAME, upstream default br-nsm) and ovs-vswitchd's run directory (its management sockets). */
  readonly bridge: OpenFlowBridge;
  /** `netdev` (the userspace datapath: no kernel module) or `system`. */
  readonly datapathType: string;
  /** Path of the netns ovs-vswitchd runs in (a node's), where the bridge's veth ends are made. */
  readonly nodeNetns: string;
}

/** One workload side: its interface in the workload's netns, and the veth end that is the bridge's port. */
interface Attached {
  readonly side: Side;
  readonly url: string;
  readonly name: string;
  readonly port: string;
  readonly config: InterfaceConfig;
}

interface Programmed {
  readonly cookie: bigint;
  readonly sides: Attached[];
}

const OWNER = 'nsm-rx-forwarder';
const CONNECTION = 'nsm-rx-connection';

const firstId = (conn: Connection): string => conn.path?.pathSegments[0]?.id || conn.id;

/** 64 bits of the connection id: the cookie of its flows. */
const cookieOf = (id: string): bigint => createHash('sha256').update(id).digest().readBigUInt64BE(0) || 1n;

/** The bridge-side veth end's name: `o` and 14 hex digits of the connection and side (an OVS port name, ≤ 15 characters). */
const portName = (id: string, side: Side): string => `o${createHash('sha256').update(`${id}/${side}`).digest('hex').slice(0, 14)}`;

const nsenterIp = (path: string, lines: readonly string[]) => lastValueFrom(exec('nsenter', [`--net=${path}`, 'ip', '-batch', '-'], `${lines.join('\n')}\n`), { defaultValue: '' });

/**
 * Open vSwitch as a forwarder datapath (upstream cmd-forwarder-ovs, sdk-ovs): each workload side
 * is a veth pair whose outer end is a port of the bridge, joined to the other side by two flows
 * carrying the connection's cookie. Ports are marked with the forwarder's name and the
 * connection, so `start` removes what a crashed predecessor left (its ports and, by their
 * cookies, its flows) and nothing else. With the userspace datapath TX checksum offload is off
 * on both veth ends (TCP breaks otherwise). Local (KERNEL to KERNEL) connections; VXLAN to come.
 */
export class OvsDatapath implements Datapath {
  readonly name = 'ovs';
  private readonly programmed = new Map<string, Programmed>();

  private constructor(private readonly options: OvsDatapathOptions) {}

  /** Makes sure the bridge exists, removes a predecessor's ports and flows, and returns the datapath. */
  static async start(options: OvsDatapathOptions): Promise<OvsDatapath> {
    await ensureBridge(options.ovsdb, options.bridge.bridge, options.datapathType);
    const dp = new OvsDatapath(options);
    await dp.removeLeftovers();
    return dp;
  }

  /** Connections programmed now (tests check Close leaves none). */
  get size(): number {
    return this.programmed.size;
  }

  incomingMechanisms(preferences: readonly Mechanism[]): Mechanism[] {
    return preferences.filter((m) => m.cls === 'LOCAL' && m.type === 'KERNEL');
  }

  outgoingPreferences(remote: boolean, connection: Connection): Mechanism[] {
    return remote ? [] : [{ cls: 'LOCAL', type: 'KERNEL', parameters: { name: interfaceNameFor(connection.networkService, firstId(connection)) } }];
  }

  program(x: CrossConnect): Observable<Mechanism> {
    return defer(() => from(this.make(x)));
  }

  unprogram(x: CrossConnect): Observable<void> {
    return defer(() => from(this.remove(x.incoming.id)));
  }

  private side(side: Side, m: Mechanism | undefined, conn: Connection, id: string): Attached {
    if (m?.type !== 'KERNEL') throw unimplemented(`the OVS datapath joins KERNEL mechanisms only so far, not ${m?.type ?? 'none'}`);
    const url = m.parameters['inodeURL'];
    if (!url) throw invalidArgument(`${side} KERNEL mechanism has no inodeURL parameter (the netns to put the interface in)`);
    const name = checkInterfaceName(m.parameters['name'] || interfaceNameFor(conn.networkService, firstId(conn)), `${side} KERNEL mechanism`);
    return { side, url, name, port: portName(id, side), config: interfaceConfig(conn.context, side, name, policyTables(aliasFor(side, firstId(conn)))) };
  }

  private async make(x: CrossConnect): Promise<Mechanism> {
    const id = x.incoming.id;
    const incoming = x.incoming.mechanism as Mechanism;
    const sides = [this.side('client', incoming, x.incoming, id), this.side('endpoint', x.outgoing.mechanism, x.outgoing, id)];
    // A refresh re-applies the addresses and routes; the ports and flows stay.
    if (this.programmed.has(id)) {
      for (const a of sides) await this.configure(a, false);
      return incoming;
    }
    const made: Programmed = { cookie: cookieOf(id), sides: [] };
    this.programmed.set(id, made);
    try {
      for (const a of sides) {
        const netns = openNetns(a.url);
        try {
          await lastValueFrom(exec('ip', ['link', 'add', a.port, 'netns', this.options.nodeNetns, 'type', 'veth', 'peer', 'name', a.name, 'netns', netns.path]), { defaultValue: '' });
          made.sides.push(a);
          await nsenterIp(this.options.nodeNetns, [`link set dev ${a.port} up`]);
          if (this.options.datapathType === 'netdev') {
            await lastValueFrom(txChecksumOff(a.port, this.options.nodeNetns), { defaultValue: undefined });
            await lastValueFrom(txChecksumOff(a.name, netns.path), { defaultValue: undefined });
          }
        } finally {
          netns.close();
        }
        await addPort(this.options.ovsdb, this.options.bridge.bridge, { name: a.port, externalIds: { [OWNER]: this.options.owner, [CONNECTION]: id, cookie: made.cookie.toString() } });
        await this.configure(a, true);
      }
      const [client, endpoint] = made.sides as [Attached, Attached];
      await lastValueFrom(addFlows(this.options.bridge, made.cookie, crossConnect(client.port, endpoint.port)), { defaultValue: undefined });
    } catch (e) {
      await this.remove(id);
      throw e;
    }
    return incoming;
  }

  /** The workload side's addresses, routes and rules (and, when new, its alias) in its netns. */
  private async configure(a: Attached, fresh: boolean): Promise<void> {
    const netns = openNetns(a.url);
    try {
      await nsenterIp(netns.path, [...(fresh ? [`link set dev ${a.name} alias ${aliasFor(a.side, a.port)}`] : []), ...configLines(a.name, a.config)]);
    } finally {
      netns.close();
    }
  }

  private async remove(id: string): Promise<void> {
    const p = this.programmed.get(id);
    if (p === undefined) return;
    this.programmed.delete(id);
    await lastValueFrom(deleteFlows(this.options.bridge, p.cookie), { defaultValue: undefined });
    await deletePorts(this.options.ovsdb, this.options.bridge.bridge, p.sides.map((a) => a.port));
    for (const a of p.sides) {
      // The bridge's end takes the workload's with it; policy rules outlive the interface.
      await nsenterIp(this.options.nodeNetns, [`link del dev ${a.port}`]).catch(() => undefined);
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
    const ports = await portsMarked(this.options.ovsdb, OWNER, this.options.owner);
    const rows = await this.options.ovsdb.transact('Open_vSwitch', ports.map((name) => ({ op: 'select', table: 'Port', where: [['name', '==', name]], columns: ['external_ids'] })));
    const cookies = new Set(rows.flatMap((r) => ((r['rows'] as { external_ids: OvsdbValue }[] | undefined) ?? []).map((row) => mapEntries(row.external_ids)['cookie'])).filter((c): c is string => c !== undefined));
    for (const cookie of cookies) await lastValueFrom(deleteFlows(this.options.bridge, BigInt(cookie)), { defaultValue: undefined });
    await deletePorts(this.options.ovsdb, this.options.bridge.bridge, ports);
    for (const port of ports) await nsenterIp(this.options.nodeNetns, [`link del dev ${port}`]).catch(() => undefined);
  }
}

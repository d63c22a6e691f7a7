import { asyncScheduler, BehaviorSubject, combineLatest, defer, EMPTY, lastValueFrom, map, Observable, Subject, takeUntil, type SchedulerLike } from 'rxjs';
import type { Connection, Mechanism } from '../../proto/gen/connection.js';
import { invalidArgument, unimplemented } from '../../operators/core/errors.js';
import type { CrossConnect, Datapath } from '../datapath.js';
import { configLines, interfaceConfig, teardownLines, type InterfaceConfig, type Side } from './ipContext.js';
import { IpBatches } from './ipBatch.js';
import { configure, counters, ipBatch, links, rules, type InterfaceCounters, type NetnsPath } from './iproute.js';
import { segmentMetrics } from '../segmentMetrics.js';
import { aliasFor, checkInterfaceName, interfaceNameFor, policyTables, staleLinks } from './names.js';
import { inNetns, netnsIdentity, openNetns, type Netns } from './netns.js';
import { workloadExit } from './processExit.js';
import { sampled } from './sampled.js';
import { acceptTunnel, checkTunnel, firstId, runToEnd, takeProgrammed, tunnelEnds, vxlanParam } from './mechanism.js';

export interface KernelDatapathOptions {
  /** This node's underlay address for VXLAN (NSM_TUNNEL_IP); without it only local connections work. */
  tunnelIp?: string;
  /** NSM_VXLAN_PORT (default 4789). */
  vxlanPort?: number;
  /** Netns (path) holding the tunnel address, where VXLAN devices are made (default: this process's). */
  underlayNetns?: string;
  /**
   * How long an idle `ip -batch` process stays in a netns for more work, ms (default 1000). In
   * an endpoint's netns it stays only while the endpoint's process lives: a client's liveness
   * check must find a dead endpoint's interface gone at once, not kept alive by ours.
   */
  ipIdleMs?: number;
  /** How often a connection's interface counters are sampled while someone reads them, ms (default 10 s, as upstream's NSM_METRICS_EXPORT_INTERVAL). */
  statsInterval?: number;
  scheduler?: SchedulerLike;
}

/**
 * One interface this datapath made in a workload's netns. The netns is kept as its URL and
 * opened per operation only: a forwarder holding it open would keep a dead pod's namespace —
 * and the interface in it, still answering pings — alive.
 */
interface Attached {
  url: string;
  readonly name: string;
  config: InterfaceConfig;
  /** The latest counters: every program reads them with its configuration, the sampler in between. */
  readonly latest: BehaviorSubject<InterfaceCounters | undefined>;
  /** The latest, then every sample: one timer however many read, stopped when the last one leaves. */
  readonly sampled: Observable<InterfaceCounters>;
}

/** What is programmed for one connection (keyed by the forwarder-side connection id). */
interface Programmed {
  /** What was created; a different one on refresh means tear down and make again. */
  readonly shape: string;
  readonly sides: Partial<Record<Side, Attached>>;
  /** VNI this forwarder picked for an incoming VXLAN mechanism (freed on Close). */
  readonly vni?: number;
  /** The links exist (until then a failure must not delete same-named interfaces it did not make). */
  created: boolean;
  /** Emits when it is removed: its counter streams complete. */
  readonly removed: Subject<void>;
}


/**
 * The Linux kernel as a forwarder datapath, with no daemon and no tc in the forwarder's own
 * netns: a local connection is one veth pair whose ends are created straight in the client's
 * and the endpoint's netns; a remote one is a VXLAN device created from this (node) netns —
 * so its underlay socket stays here — straight into the workload's netns. A forwarder crash
 * therefore leaves the data plane running; its successor recognises the interfaces by their
 * alias and replaces them on the heal's re-Request.
 */
export class KernelDatapath implements Datapath {
  readonly name = 'kernel';
  private readonly programmed = new Map<string, Programmed>();
  private readonly usedVnis = new Set<number>();
  private readonly port: number;
  /** `ip` in the node's and the clients' netns; in the endpoints' (`ipOf('endpoint')`: gone with the endpoint). */
  private readonly ip: IpBatches;
  private readonly endpointIp: IpBatches;
  private readonly scheduler: SchedulerLike;

  constructor(private readonly options: KernelDatapathOptions = {}) {
    this.port = options.vxlanPort ?? 4789;
    this.scheduler = options.scheduler ?? asyncScheduler;
    const idle = options.ipIdleMs !== undefined ? { idleMs: options.ipIdleMs } : {};
    this.ip = new IpBatches({ ...idle, scheduler: this.scheduler });
    this.endpointIp = new IpBatches({ ...idle, workloadGone: workloadExit, scheduler: this.scheduler });
  }

  /** Ends the `ip` processes (what is programmed stays: the data plane outlives its forwarder). */
  dispose(): void {
    this.ip.dispose();
    this.endpointIp.dispose();
  }

  private ipOf(side: Side): IpBatches {
    return side === 'endpoint' ? this.endpointIp : this.ip;
  }

  /** Connections with programmed interfaces (tests check Close leaves none). */
  get size(): number {
    return this.programmed.size;
  }

  incomingMechanisms(preferences: readonly Mechanism[]): Mechanism[] {
    return preferences.filter((m) => (m.cls === 'LOCAL' && m.type === 'KERNEL') || (m.cls === 'REMOTE' && m.type === 'VXLAN' && this.options.tunnelIp !== undefined));
  }

  outgoingPreferences(remote: boolean, connection: Connection): Mechanism[] {
    if (remote) {
      return this.options.tunnelIp === undefined ? [] : [{ cls: 'REMOTE', type: 'VXLAN', parameters: { src_ip: this.options.tunnelIp, src_port: String(this.port) } }];
    }
    // The name it has here, else one no other connection of this forwarder holds.
    const endpointName = (p: Programmed | undefined) => p?.sides.endpoint?.name;
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
    return runToEnd(async () => {
      if (this.programmed.has(x.incoming.id)) return this.remove(x.incoming.id);
      // No state (a restarted forwarder): the client side is known from the connection itself.
      const m = x.incoming.mechanism;
      const [url, name] = [m?.parameters['inodeURL'], m?.parameters['name']];
      if (m?.type === 'KERNEL' && url && name) await inNetns(url, (path) => this.removeStale('client', path, name, aliasFor('client', firstId(x.incoming))));
    });
  }

  /**
   * The counters of a connection's interfaces as path-segment metrics: the latest sample at once,
   * then each new one; completes when the connection is unprogrammed.
   *
   * ```
   * program ─c1──────────────────── refresh ─c3──
   * metrics  c1 ──(statsInterval)── c2 ─────── c3 ──…──| (unprogram)
   * ```
   */
  metrics(connectionId: string): Observable<Record<string, string>> {
    return defer(() => {
      const p = this.programmed.get(connectionId);
      if (p === undefined) return EMPTY;
      // Upstream's view from the forwarder: it serves the client side, it is a client of the endpoint side.
      const parts = (
        [
          ['client', 'server_'],
          ['endpoint', 'client_'],
        ] as const
      ).flatMap(([side, prefix]) => {
        const a = p.sides[side];
        return a ? [a.sampled.pipe(map((c) => segmentMetrics(prefix, a.name, c)))] : [];
      });
      return combineLatest(parts).pipe(
        map((all) => Object.assign({}, ...all) as Record<string, string>),
        takeUntil(p.removed),
      );
    });
  }

  /** One interface of ours, with its counter sampler. */
  private attach(side: Side, url: string, name: string, config: InterfaceConfig): Attached {
    const latest = new BehaviorSubject<InterfaceCounters | undefined>(undefined);
    // A netns that is gone reads as nothing: the last sample stays.
    const read = () => defer(() => inNetns(a.url, (path) => lastValueFrom(counters(this.ipOf(side), path, name))));
    const a: Attached = { url, name, config, latest, sampled: sampled(latest, read, this.options.statsInterval ?? 10_000, this.scheduler) };
    return a;
  }

  private async make(x: CrossConnect): Promise<Mechanism> {
    const incoming = { ...(x.incoming.mechanism as Mechanism) };
    incoming.parameters = { ...incoming.parameters };
    const outgoing = x.outgoing.mechanism;
    if (outgoing === undefined) throw invalidArgument('the next hop answered without a mechanism');
    const id = x.incoming.id;
    const first = firstId(x.incoming);
    let vni: number | undefined;
    if (incoming.type === 'VXLAN') {
      if (outgoing.type === 'VXLAN') throw unimplemented('VXLAN to VXLAN (a transit forwarder) is not supported by the kernel datapath');
      vni = acceptTunnel(incoming, this.options.tunnelIp as string, this.port, this.programmed.get(id)?.vni, this.usedVnis);
    }
    // Everything is validated before anything is made.
    const plan = {
      client: incoming.type === 'KERNEL' ? this.kernelSide('client', incoming, x.incoming) : undefined,
      endpoint: outgoing.type === 'KERNEL' ? this.kernelSide('endpoint', outgoing, x.outgoing) : undefined,
    };
    const tunnel = incoming.type === 'VXLAN' ? incoming : outgoing.type === 'VXLAN' ? outgoing : undefined;
    if (tunnel) checkTunnel(tunnel);
    const shape = JSON.stringify([plan.client?.netns, plan.client?.name, plan.endpoint?.netns, plan.endpoint?.name, tunnel && ['src_ip', 'dst_ip', 'vni', 'dst_port'].map((k) => vxlanParam(tunnel, k))]);

    const before = this.programmed.get(id);
    if (before?.shape === shape) {
      for (const side of ['client', 'endpoint'] as const) {
        const attached = before.sides[side];
        const want = plan[side];
        if (attached && want) {
          attached.url = want.url; // the same netns, maybe by a living process's path (nsc-init, then nsc)
          const lines = configLines(attached.name, want.config, attached.config);
          const read = await inNetns(attached.url, (path) => lastValueFrom(configure(this.ipOf(side), path, attached.name, lines)));
          if (read) attached.latest.next(read);
          attached.config = want.config;
        }
      }
      return incoming;
    }
    if (before) await this.remove(id);

    const sides: Partial<Record<Side, Attached>> = {};
    const made: Programmed = { shape, sides, created: false, removed: new Subject<void>(), ...(vni !== undefined ? { vni } : {}) };
    this.programmed.set(id, made);
    if (vni !== undefined) this.usedVnis.add(vni);
    // The netns stay open while we work in them (a pid found by inode cannot go away meanwhile).
    const open: Partial<Record<Side, Netns>> = {};
    const held: Partial<Record<Side, { readonly pid: number; release(): void }>> = {};
    try {
      for (const side of ['client', 'endpoint'] as const) {
        const want = plan[side];
        if (want === undefined) continue;
        open[side] = openNetns(want.url);
        sides[side] = this.attach(side, want.url, want.name, want.config);
      }
      const paths = { client: open.client?.path, endpoint: open.endpoint?.path };
      // Our ip in each workload netns, named to the node's by its pid (a path would stay open there).
      for (const side of ['client', 'endpoint'] as const) {
        const path = paths[side];
        if (path !== undefined) held[side] = await this.ipOf(side).hold(path);
      }
      const pids = { client: held.client?.pid, endpoint: held.endpoint?.pid };
      await this.createLinks(sides, pids, tunnel, incoming.type === 'VXLAN').catch(async (e: unknown) => {
        // A name clash: a crashed predecessor's interface for this connection goes, a foreign one stays.
        if (!/File exists/.test(String(e))) throw e;
        for (const side of ['client', 'endpoint'] as const) {
          const a = sides[side];
          if (a) await this.removeStale(side, paths[side], a.name, aliasFor(side, first));
        }
        await this.createLinks(sides, pids, tunnel, incoming.type === 'VXLAN');
      });
      made.created = true;
      // The endpoint side first: a client whose side comes up before the endpoint has its
      // address sends an ARP nobody answers, and the kernel retries only a second later.
      for (const side of ['endpoint', 'client'] as const) {
        const a = sides[side];
        if (a) a.latest.next(await lastValueFrom(configure(this.ipOf(side), paths[side], a.name, [`link set dev ${a.name} alias ${aliasFor(side, first)}`, ...configLines(a.name, a.config)])));
      }
    } catch (e) {
      await this.remove(id);
      throw e;
    } finally {
      for (const h of Object.values(held)) h.release();
      for (const n of Object.values(open)) n.close();
    }
    return incoming;
  }

  private kernelSide(side: Side, m: Mechanism, conn: Connection) {
    const url = m.parameters['inodeURL'];
    if (!url) throw invalidArgument(`${side} KERNEL mechanism has no inodeURL parameter (the netns to put the interface in)`);
    const given = m.parameters['name'];
    const name = checkInterfaceName(given || interfaceNameFor(conn.networkService, firstId(conn)), `${side} KERNEL mechanism`);
    return { url, netns: netnsIdentity(url), name, config: interfaceConfig(conn.context, side, name, policyTables(aliasFor(side, firstId(conn)))) };
  }

  /** The veth pair (local) or the VXLAN device (remote) for the workload side(s), in the netns of the processes `pids`. */
  private async createLinks(sides: Partial<Record<Side, Attached>>, pids: Record<Side, number | undefined>, tunnel: Mechanism | undefined, weAreServer: boolean): Promise<void> {
    const { client, endpoint } = sides;
    if (client && endpoint) {
      await lastOrVoid(ipBatch(this.ip, this.options.underlayNetns, [`link add ${client.name} netns ${pids.client as number} type veth peer name ${endpoint.name} netns ${pids.endpoint as number}`]));
      return;
    }
    const side: Side = client ? 'client' : 'endpoint';
    const local = sides[side] as Attached;
    const t = tunnel as Mechanism;
    const { own, peer, port } = tunnelEnds(t, weAreServer, this.port);
    await lastOrVoid(ipBatch(this.ip, this.options.underlayNetns, [`link add ${local.name} netns ${pids[side] as number} type vxlan id ${vxlanParam(t, 'vni')} local ${own} remote ${peer} dstport ${port}`]));
  }

  /** Deletes what a connection made (one end of a veth takes the other with it) and frees its VNI. */
  private async remove(id: string): Promise<void> {
    const p = takeProgrammed(this.programmed, id);
    if (p === undefined) return;
    if (p.vni !== undefined) this.usedVnis.delete(p.vni);
    const failures: unknown[] = [];
    if (p.created) {
      for (const [side, a] of Object.entries(p.sides) as [Side, Attached][]) {
        // A veth pair: the client's end takes the endpoint's with it (and only the client side has rules).
        if (side === 'endpoint' && p.sides.client) continue;
        try {
          // Policy rules outlive the interface (its routes do not); they go even when the interface is gone already.
          await inNetns(a.url, (path) => lastOrVoid(ipBatch(this.ipOf(side), path, [`link del dev ${a.name}`, ...teardownLines(a.config)])));
        } catch (e) {
          // Gone already (the other veth end went first, or the workload's netns died) is fine.
          if (!/Cannot find device|does not exist/.test(String(e))) failures.push(e);
        }
      }
    }
    if (failures.length) throw failures[0];
  }

  /**
   * Before making `name` in a netns: an interface of ours for the same connection side (a
   * crashed predecessor's, or under an old name) goes; a foreign one with that name is an error.
   */
  private async removeStale(side: Side, netns: NetnsPath, name: string, alias: string): Promise<void> {
    const ip = this.ipOf(side);
    const present = await lastValueFrom(links(ip, netns));
    const { table } = policyTables(alias);
    const stale = (await lastValueFrom(rules(ip, netns))).filter((r) => typeof r.table === 'string' && Number(r.table) >= table && Number(r.table) < table + 16);
    const lines: string[] = stale.map((r) => `rule del pref ${r.priority} table ${r.table}`);
    lines.push(...staleLinks(present, name, alias).map((l) => `link del dev ${l}`));
    await lastOrVoid(ipBatch(ip, netns, lines));
  }
}

/** Waits for the last value (or none) of a command. */
const lastOrVoid = <T>(source: Observable<T>): Promise<T | undefined> => lastValueFrom(source, { defaultValue: undefined });

import { map, of, type Observable } from 'rxjs';
import type { IpBatches, NetnsPath } from './ipBatch.js';

export type { NetnsPath } from './ipBatch.js';

/** What `ip -j -d link show` says of an interface (the fields we use). */
export interface LinkInfo {
  readonly ifname: string;
  readonly ifalias?: string;
  readonly operstate?: string;
  readonly mtu?: number;
  readonly linkinfo?: { readonly info_kind?: string };
}

const parsed = <T>(out: string | undefined): T[] => (out?.trim() ? (JSON.parse(out) as T[]) : []);

/** Several `ip` commands in `netns`, in order; nothing to run is no command at all. */
export function ipBatch(ip: IpBatches, netns: NetnsPath, lines: readonly string[]): Observable<void> {
  if (lines.length === 0) return of(undefined);
  return ip.run(netns, lines).pipe(map(() => undefined));
}

/** The interfaces of `netns`, with details (`link show`). */
export function links(ip: IpBatches, netns: NetnsPath): Observable<LinkInfo[]> {
  return ip.run(netns, ['link show']).pipe(map(([out]) => parsed<LinkInfo>(out)));
}

/** What `ip -j rule show` says of a rule (the fields we use; `table` is a name or number as text). */
export interface RuleInfo {
  readonly priority: number;
  readonly table?: string;
}

/** The policy rules of `netns`. */
export function rules(ip: IpBatches, netns: NetnsPath): Observable<RuleInfo[]> {
  return ip.run(netns, ['rule show']).pipe(map(([out]) => parsed<RuleInfo>(out)));
}

/** Counters of one interface (`ip -j -s link show dev X`). */
export interface InterfaceCounters {
  readonly rx: { readonly bytes: number; readonly packets: number; readonly dropped: number };
  readonly tx: { readonly bytes: number; readonly packets: number; readonly dropped: number };
}

/** Runs `lines` in `netns` and reads the counters of `name` afterwards, in one go. */
export function configure(ip: IpBatches, netns: NetnsPath, name: string, lines: readonly string[]): Observable<InterfaceCounters> {
  return ip.run(netns, [...lines, `link show dev ${name}`]).pipe(map((outs) => parsed<{ stats64: InterfaceCounters }>(outs.at(-1))[0]?.stats64 as InterfaceCounters));
}

/** Reads the counters of `name` in `netns`. */
export function counters(ip: IpBatches, netns: NetnsPath, name: string): Observable<InterfaceCounters> {
  return configure(ip, netns, name, []);
}

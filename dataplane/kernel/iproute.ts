import { map, of, type Observable } from 'rxjs';
import { exec } from './exec.js';

/** A network namespace addressed by a path (`/proc/<pid>/fd/<n>`, `/run/netns/x`); none = ours. */
export type NetnsPath = string | undefined;

/** `ip …` inside `netns` (through nsenter, since `ip -n` takes names only). */
export function ip(netns: NetnsPath, args: readonly string[], input?: string): Observable<string> {
  return netns === undefined ? exec('ip', args, input) : exec('nsenter', [`--net=${netns}`, 'ip', ...args], input);
}

/** Several `ip` commands in one process (`ip -batch -`); stops at the first failing line. */
export function ipBatch(netns: NetnsPath, lines: readonly string[]): Observable<void> {
  if (lines.length === 0) return of(undefined);
  return ip(netns, ['-batch', '-'], `${lines.join('\n')}\n`).pipe(map(() => undefined));
}

/** What `ip -j -d link show` says of an interface (the fields we use). */
export interface LinkInfo {
  readonly ifname: string;
  readonly ifalias?: string;
  readonly operstate?: string;
  readonly mtu?: number;
  readonly linkinfo?: { readonly info_kind?: string };
}

/** The interfaces of `netns`, read with `ip -j -d link show`. */
export function links(netns: NetnsPath): Observable<LinkInfo[]> {
  return ip(netns, ['-j', '-d', 'link', 'show']).pipe(map((out) => (out.trim() ? (JSON.parse(out) as LinkInfo[]) : [])));
}

/** What `ip -j rule show` says of a rule (the fields we use; `table` is a name or number as text). */
export interface RuleInfo {
  readonly priority: number;
  readonly table?: string;
}

/** The policy rules of `netns`. */
export function rules(netns: NetnsPath): Observable<RuleInfo[]> {
  return ip(netns, ['-j', 'rule', 'show']).pipe(map((out) => (out.trim() ? (JSON.parse(out) as RuleInfo[]) : [])));
}

/** Counters of one interface (`ip -j -s link show dev X`). */
export interface InterfaceCounters {
  readonly rx: { readonly bytes: number; readonly packets: number; readonly dropped: number };
  readonly tx: { readonly bytes: number; readonly packets: number; readonly dropped: number };
}

/** Runs `lines` in `netns` and reads the counters of `name` afterwards, all in one `ip -batch`. */
export function configure(netns: NetnsPath, name: string, lines: readonly string[]): Observable<InterfaceCounters> {
  return ip(netns, ['-j', '-s', '-batch', '-'], `${[...lines, `link show dev ${name}`].join('\n')}\n`).pipe(map(parseCounters));
}

const parseCounters = (out: string): InterfaceCounters => (JSON.parse(out.trim().split('\n').at(-1) ?? '[]') as { stats64: InterfaceCounters }[])[0]?.stats64 as InterfaceCounters;

/** Reads the counters of `name` in `netns`. */
export function counters(netns: NetnsPath, name: string): Observable<InterfaceCounters> {
  return ip(netns, ['-j', '-s', 'link', 'show', 'dev', name]).pipe(map(parseCounters));
}

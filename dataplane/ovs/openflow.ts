import type { Observable } from 'rxjs';
import { map } from 'rxjs/operators';
import { exec } from '../kernel/exec.js';

/** A bridge as ovs-ofctl reaches it: its management socket in ovs-vswitchd's run directory. */
export interface OpenFlowBridge {
  readonly bridge: string;
  /** OVS_RUNDIR of ovs-vswitchd (Debian: /var/run/openvswitch). */
  readonly rundir: string;
}

const target = (b: OpenFlowBridge) => `unix:${b.rundir}/${b.bridge}.mgmt`;
/** Bundles (all flows or none) need OpenFlow 1.4. */
const ofctl = (b: OpenFlowBridge, command: string, args: readonly string[] = [], options: readonly string[] = [], input?: string) =>
  exec('ovs-ofctl', ['-O', 'OpenFlow14', ...options, command, target(b), ...args], input);

/** A connection's flows carry its cookie, so they are found and removed by it alone (and a restarted forwarder finds its predecessor's). */
export const cookieText = (cookie: bigint): string => `0x${cookie.toString(16)}`;

/**
 * Adds `flows` (ovs-ofctl flow syntax, without the cookie) with `cookie`, in one bundle: when
 * ovs-vswitchd refuses one, none is added and the error names it.
 */
export function addFlows(b: OpenFlowBridge, cookie: bigint, flows: readonly string[]): Observable<void> {
  const text = flows.map((f) => `cookie=${cookieText(cookie)},${f}\n`).join('');
  return ofctl(b, 'add-flows', ['-'], ['--bundle'], text).pipe(map(() => undefined));
}

/** Removes every flow with `cookie` (and no other). */
export function deleteFlows(b: OpenFlowBridge, cookie: bigint): Observable<void> {
  return ofctl(b, 'del-flows', [`cookie=${cookieText(cookie)}/-1`]).pipe(map(() => undefined));
}

/** The cookies of the bridge's flows, each once, sorted. */
export function flowCookies(b: OpenFlowBridge): Observable<bigint[]> {
  return ofctl(b, 'dump-flows').pipe(
    map((out) => [...new Set([...out.matchAll(/cookie=(0x[0-9a-f]+)/g)].map((m) => BigInt(m[1] ?? '0')))].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))),
  );
}

/** The two flows that join ports `a` and `b` (names or numbers) in both directions. */
export const crossConnect = (a: string, b: string): string[] => [`priority=100,in_port=${a},actions=output:${b}`, `priority=100,in_port=${b},actions=output:${a}`];

import { execFileSync, spawnSync } from 'node:child_process';
import { firstValueFrom, take, toArray } from 'rxjs';
import { expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { describeKernel, underlay, useNamespaces } from '../../test/kernel/namespaces.js';
import { kernelLivenessCheck } from './liveness.js';
import { pingReplies } from './pingReplies.js';

/** The ping processes probing from `src` (their command lines name it). */
const pingsFrom = (src: string): number => spawnSync('pgrep', ['-f', `ping -n -i 0.2 -I ${src} `]).stdout.toString().split('\n').filter(Boolean).length;

const conn = (src: string, dst: string) => Connection.fromPartial({ id: 'c', context: { ipContext: { srcIpAddrs: [`${src}/32`], dstIpAddrs: [`${dst}/32`] } } });

describeKernel('the long-lived ping prober on a real veth', () => {
  const ns = useNamespaces();

  it('replies every 200 ms from one process; unsubscribing kills it', async () => {
    const [a, b] = [ns.make('pinger'), ns.make('peer')];
    underlay(a, b, '169.254.71.1/30', '169.254.71.2/30');
    const three = await firstValueFrom(pingReplies('169.254.71.1', '169.254.71.2', `/run/netns/${a}`).pipe(take(3), toArray()));
    expect(three).toHaveLength(3);
    await new Promise((r) => setTimeout(r, 100));
    expect(pingsFrom('169.254.71.1')).toBe(0);
  });

  it('checks that follow each other share one ping; a peer that goes away is dead within the timeout; the prober ends a timeout after the last check', async () => {
    const [a, b] = [ns.make('nsc'), ns.make('nse')];
    underlay(a, b, '169.254.72.1/30', '169.254.72.2/30');
    const check = kernelLivenessCheck({ timeout: 1000, netns: `/run/netns/${a}` });
    const c = conn('169.254.72.1', '169.254.72.2');
    for (let i = 0; i < 5; i++) expect(await firstValueFrom(check(c))).toBe(true);
    expect(pingsFrom('169.254.72.1')).toBe(1);
    execFileSync('ip', ['-n', b, 'addr', 'del', '169.254.72.2/30', 'dev', 'u1']);
    expect(await firstValueFrom(check(c))).toBe(false);
    await new Promise((r) => setTimeout(r, 1300));
    expect(pingsFrom('169.254.72.1')).toBe(0);
  });
});

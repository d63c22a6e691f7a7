import { execFileSync } from 'node:child_process';
import { firstValueFrom } from 'rxjs';
import { expect, it } from 'vitest';
import { statusOf } from '../../operators/core/errors.js';
import { describeKernel, useNamespaces } from '../../test/kernel/namespaces.js';
import { IpBatches } from './ipBatch.js';

/** The `ip -batch` processes of ours, by pid, with the netns each is in. */
const ours = () =>
  execFileSync('pgrep', ['-P', String(process.pid), '-f', 'ip -force -j -s -d -batch'], { encoding: 'utf8' }).split('\n').filter(Boolean);
const pgrepOurs = () => {
  try {
    return ours();
  } catch {
    return []; // pgrep: none
  }
};

describeKernel('IpBatches (one long-lived ip -batch per netns)', () => {
  const ns = useNamespaces();

  it('runs groups of lines in the netns a path names, one process per netns however spelled; outputs in order; a failing line is named with what ip said', async () => {
    const a = ns.make('a');
    const ip = new IpBatches({ idleMs: 60_000 });
    try {
      const [shown] = await firstValueFrom(ip.run(`/run/netns/${a}`, ['link add v0 type veth peer name v1', 'link set dev v0 up', 'link show dev v0']));
      expect((JSON.parse(shown ?? '[]') as { ifname: string }[])[0]?.ifname).toBe('v0');
      await firstValueFrom(ip.run(`/proc/${process.pid}/ns/net`, ['link show']));
      expect(ip.size).toBe(2); // ours and a's
      await firstValueFrom(ip.run(`/run/netns/${a}`, ['link show dev v1']));
      expect(ip.size).toBe(2); // a's again
      expect(execFileSync('ip', ['-n', a, '-j', 'link', 'show', 'v0'], { encoding: 'utf8' })).toContain('"UP"');

      const err = await firstValueFrom(ip.run(`/run/netns/${a}`, ['addr replace 169.254.9.1/32 dev v0', 'link add v0 type veth peer name v2', 'link show dev v0'])).catch((e: unknown) => e);
      expect(String(err)).toMatch(/ip link add v0 type veth peer name v2: RTNETLINK answers: File exists/);
      expect(statusOf(err)).toBe(3); // the kernel refused what was asked: INVALID_ARGUMENT
      // -force: the lines around the failing one ran.
      expect(execFileSync('ip', ['-n', a, '-j', 'addr', 'show', 'v0'], { encoding: 'utf8' })).toContain('169.254.9.1');
      // A line ip cannot parse ends its process: the group fails naming it; the next group gets a new process.
      const parse = await firstValueFrom(ip.run(`/run/netns/${a}`, ['addr replace banana dev v0'])).catch((e: unknown) => e);
      expect(String(parse)).toMatch(/addr replace banana dev v0.*banana/);
      await firstValueFrom(ip.run(`/run/netns/${a}`, ['link show']));
      const line = await firstValueFrom(ip.run(`/run/netns/${a}`, ['link show dev x\ny'])).catch((e: unknown) => e);
      expect(String(line)).toMatch(/line break/);
    } finally {
      ip.dispose();
    }
  });

  it('an interface that went by another hand and came back under the same name is found (ip remembers names → indexes)', async () => {
    const [a, b] = [ns.make('a'), ns.make('b')];
    const ip = new IpBatches({ idleMs: 60_000 });
    try {
      for (let i = 0; i < 3; i++) {
        // b's process learns v1; deleting v0 from a's takes v1 with it; the next v1 has another index.
        await firstValueFrom(ip.run(`/run/netns/${a}`, [`link add v0 type veth peer name v1 netns /run/netns/${b}`]));
        await firstValueFrom(ip.run(`/run/netns/${b}`, [`addr replace 169.254.9.${i}/32 dev v1`, 'link set dev v1 up', 'link show dev v1']));
        await firstValueFrom(ip.run(`/run/netns/${a}`, ['link del dev v0']));
      }
      expect(execFileSync('ip', ['-n', b, '-j', 'link', 'show'], { encoding: 'utf8' })).not.toContain('v1');
    } finally {
      ip.dispose();
    }
  });

  it('a process ends when idle for idleMs, and every one (and the spare shell) ends on dispose: none left behind', async () => {
    const [a, b] = [ns.make('a'), ns.make('b')];
    const idle = new IpBatches({ idleMs: 1 });
    await firstValueFrom(idle.run(`/run/netns/${a}`, ['link show']));
    await expect.poll(() => idle.size).toBe(0);
    idle.dispose();
    const ip = new IpBatches({ idleMs: 60_000 });
    await firstValueFrom(ip.run(`/run/netns/${a}`, ['link show']));
    await firstValueFrom(ip.run(`/run/netns/${b}`, ['link show'])); // the spare's turn
    expect(ip.size).toBe(2);
    expect(pgrepOurs().length).toBeGreaterThanOrEqual(2);
    ip.dispose();
    expect(ip.size).toBe(0);
    await expect.poll(() => pgrepOurs()).toEqual([]);
    const err = await firstValueFrom(ip.run('/run/netns/no-such-netns-here', ['link show'])).catch((e: unknown) => e);
    expect(String(err)).toMatch(/no-such-netns-here: cannot be opened/);
  });
});

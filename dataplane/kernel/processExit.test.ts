import { execFileSync, spawn } from 'node:child_process';
import { firstValueFrom, timeout } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { inodeUrlOf } from '../../streams/inodes.js';
import { describeKernel, startWorkload, useNamespaces } from '../../test/kernel/namespaces.js';
import { inCheckout } from '../../test/process/processMesh.js';
import { IpBatches } from './ipBatch.js';
import { netnsHolder } from './netns.js';
import { processExit, workloadExit } from './processExit.js';

const pidwaitMissing = (() => {
  try {
    execFileSync('pidwait', ['-V'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'pidwait is not installed (Debian package procps)';
  }
})();
if (pidwaitMissing) console.warn(`\n!!! SKIPPED processExit tests: ${pidwaitMissing} (CI installs it) !!!\n`);

/** Our pidwait processes. */
const watchers = () => {
  try {
    return execFileSync('pgrep', ['-P', String(process.pid), 'pidwait'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return []; // pgrep: none
  }
};
const ended = (o: Parameters<typeof firstValueFrom>[0]) => firstValueFrom(o.pipe(timeout(10_000)), { defaultValue: 'ended' });

describe.skipIf(pidwaitMissing)('processExit', () => {
  it('completes when the process exits, and at once for one that is gone; unsubscribing ends the watch', async () => {
    const sleeper = spawn('sleep', ['100']);
    const exit = ended(processExit(sleeper.pid as number));
    await expect.poll(() => watchers().length).toBe(1);
    sleeper.kill('SIGKILL');
    expect(await exit).toBe('ended');
    expect(await ended(processExit(sleeper.pid as number))).toBe('ended');

    const other = spawn('sleep', ['100']);
    const watch = processExit(other.pid as number).subscribe();
    await expect.poll(() => watchers().length).toBe(1);
    watch.unsubscribe();
    await expect.poll(() => watchers()).toEqual([]);
    other.kill('SIGKILL');
  });

  it('a watch ends with the process that asked for it, even killed with -9', async () => {
    const sleeper = spawn('sleep', ['100']);
    const module = JSON.stringify(inCheckout('dist/dataplane/kernel/processExit.js'));
    const watcher = spawn(process.execPath, ['--input-type=module', '-e', `import(${module}).then((m) => { m.processExit(${sleeper.pid}).subscribe(); setInterval(() => undefined, 1000); })`]);
    const theirs = () => {
      try {
        return execFileSync('pgrep', ['-f', `pidwait -F /dev/fd/3`], { encoding: 'utf8' }).split('\n').filter((pid) => pid && execFileSync('ps', ['-o', 'ppid=', '-p', pid], { encoding: 'utf8' }).trim() === String(watcher.pid));
      } catch {
        return []; // none
      }
    };
    await expect.poll(theirs, { timeout: 10_000 }).toHaveLength(1);
    const [pid] = theirs();
    watcher.kill('SIGKILL');
    const alive = () => {
      try {
        process.kill(Number(pid), 0);
        return true;
      } catch {
        return false;
      }
    };
    await expect.poll(alive, { timeout: 5000 }).toBe(false);
    sleeper.kill('SIGKILL');
  });
});

describeKernel('the workload of a netns', () => {
  const ns = useNamespaces();

  it('netnsHolder: the process living in the netns; none when only a bind mount or a child of ours is there', async () => {
    const a = ns.make('a');
    const identity = inodeUrlOf(`/run/netns/${a}`) as string;
    expect(netnsHolder(identity)).toBeUndefined();
    const child = spawn('ip', ['netns', 'exec', a, 'sleep', '100']); // ours: not what keeps it
    await expect.poll(() => inodeUrlOf(`/proc/${child.pid}/ns/net`)).toBe(identity);
    expect(netnsHolder(identity)).toBeUndefined();
    const pid = startWorkload(a);
    await expect.poll(() => netnsHolder(identity)).toBe(pid);
    child.kill('SIGKILL');
    process.kill(pid, 'SIGKILL');
  });

  it.skipIf(pidwaitMissing)('an ip -batch process in a netns ends as soon as its workload exits, however long it may idle; without a watch it idles on', async () => {
    const [a, b] = [ns.make('a'), ns.make('b')];
    const pid = startWorkload(a);
    const watched = new IpBatches({ idleMs: 60_000, workloadGone: workloadExit });
    const unwatched = new IpBatches({ idleMs: 60_000, workloadGone: workloadExit });
    try {
      await firstValueFrom(watched.run(`/run/netns/${a}`, ['link show']));
      await firstValueFrom(unwatched.run(`/run/netns/${b}`, ['link show'])); // no workload in b
      await expect.poll(() => watchers().length).toBe(1);
      expect(watched.size).toBe(1);
      process.kill(pid, 'SIGKILL');
      await expect.poll(() => watched.size).toBe(0);
      expect(watchers()).toEqual([]);
      expect(unwatched.size).toBe(1);
    } finally {
      watched.dispose();
      unwatched.dispose();
    }
  });
});

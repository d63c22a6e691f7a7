import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { asyncScheduler, catchError, lastValueFrom, Observable, subscribeOn, throwError, type SchedulerLike, type Subscriber, type Subscription } from 'rxjs';
import { internal, invalidArgument, notFound } from '../../operators/core/errors.js';
import { inodeUrlOf } from '../../streams/inodes.js';
import { failure, timeoutMs } from './exec.js';

/** A network namespace addressed by a path (`/proc/<pid>/fd/<n>`, `/run/netns/x`); none = ours. */
export type NetnsPath = string | undefined;

/**
 * Sent after every group of lines: an object `ip` does not know, so it answers
 * `Command failed -:<n>` on exactly that line and we know everything before it is done.
 */
const marker = 'nsm-rx-done';

type IpChild = ChildProcessByStdio<Writable, Readable, null>;

const ip = ['ip', '-force', '-j', '-s', '-d', '-batch', '-'];

/** `ip` in `netns` (given to the child as its fd 3: no path of ours it could read after we reused it), stderr into stdout. */
function spawnIn(netns: NetnsPath): IpChild {
  const fd = netns === undefined ? undefined : openSync(netns, 'r');
  try {
    const command = fd === undefined ? ip : ['nsenter', '--net=/proc/self/fd/3', ...ip];
    // stdin and stdout are pipes (the type cannot tell from an array).
    return spawn('sh', ['-c', 'exec "$@" 2>&1', 'sh', ...command], { stdio: ['pipe', 'pipe', 'ignore', ...(fd === undefined ? [] : [fd])] }) as IpChild;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A shell that becomes `ip` in the netns whose path it reads first: started ahead, it holds no netns while it waits. */
function spawnSpare(): IpChild {
  return spawn('sh', ['-c', 'read -r ns && exec nsenter --net="$ns" "$@" 2>&1', 'sh', ...ip], { stdio: ['pipe', 'pipe', 'ignore'] }) as IpChild;
}

/** One group of lines on its way through a process. */
interface Group {
  readonly lines: readonly string[];
  /** `ip`'s number of the group's first line (it counts every line it read, from 1). */
  readonly first: number;
  readonly markerLine: number;
  readonly outputs: string[];
  /** The first failing line and what `ip` said before naming it. */
  failed?: { readonly line: string; readonly detail: string };
  readonly subscriber: Subscriber<string[]>;
}

/**
 * One `ip -force -j -s -d -batch -` inside one netns, fed groups of lines on stdin; stdout and
 * stderr are one pipe, so outputs, errors and markers arrive in the order `ip` made them.
 * `-force` keeps it reading after a failing line (that line's error is reported, the rest of
 * its group still runs); a line `ip` cannot even parse ends it (then its groups fail).
 *
 * A process retires (the next group gets a new one) after a group that
 * - failed: `ip` remembers interface names → indexes, and after an interface went by another
 *   hand (its veth peer deleted from the other netns) and came back under the same name, it
 *   would address the old index;
 * - moved a link into a netns named by a path (`link add … netns /path`): `ip` keeps that file
 *   open, which would keep a dead workload's namespace alive as long as the process lives (name
 *   it by the pid of a held process in it instead: see `IpBatches.hold`).
 */
class IpProcess {
  private readonly groups: Group[] = [];
  private written = 0;
  private buffer = '';
  /** What `ip` said since the last line it named as failed. */
  private said: string[] = [];
  private idle?: Subscription;
  /** Holders that need it alive (its pid names its netns to another process meanwhile). */
  private holds = 0;
  private deadline?: Subscription;
  private ended = false;
  /** How long it waits idle for more work, ms: 0 once the workload in its netns is gone. */
  private lingerMs: number;
  private watch?: Subscription;

  /** `spareOf`: when `child` is a spare shell, the netns path it is told first (valid until its first group is answered). */
  constructor(
    private readonly where: string,
    private readonly child: IpChild,
    spareOf: string | undefined,
    private readonly options: { readonly idleMs: number; readonly scheduler: SchedulerLike; readonly onEnd: () => void },
  ) {
    this.lingerMs = options.idleMs;
    if (spareOf !== undefined) this.child.stdin.write(`${spareOf}\n`);
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => this.read(chunk));
    this.child.on('error', (e) => this.end(e.message));
    this.child.on('close', (code: number | null, signal: string | null) => this.end(`exit ${code ?? signal ?? '?'}`));
    this.child.stdin.on('error', () => undefined); // a dead ip: reported by its exit
    this.idle = this.options.scheduler.schedule(() => this.close(), this.lingerMs);
  }

  /**
   * Ends this process, once idle, when `workloadGone` ends (completes or errors: the workload
   * keeping its netns alive exited, or cannot be watched): ours must not keep that netns alive.
   */
  endWith(workloadGone: Observable<unknown>): void {
    if (this.ended) return;
    const stopLingering = () => {
      this.lingerMs = 0;
      if (this.holds === 0 && this.groups.length === 0) this.close();
    };
    this.watch = workloadGone.subscribe({ error: stopLingering, complete: stopLingering });
  }

  run(lines: readonly string[]): Observable<string[]> {
    return new Observable<string[]>((subscriber) => {
      const bad = lines.find((l) => /[\n\r]/.test(l));
      if (bad !== undefined) {
        subscriber.error(invalidArgument(`ip ${JSON.stringify(bad)}: a line break inside one command`));
        return;
      }
      if (this.ended) {
        subscriber.error(internal(`ip -batch ${this.where}: ended`));
        return;
      }
      this.idle?.unsubscribe();
      const first = this.written + 1;
      this.written += lines.length + 1;
      this.groups.push({ lines, first, markerLine: this.written, outputs: [], subscriber });
      this.child.stdin.write(`${[...lines, marker].join('\n')}\n`);
      this.deadline ??= this.options.scheduler.schedule(() => this.kill(`no answer within ${timeoutMs} ms`), timeoutMs);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  hold(): void {
    this.holds++;
    this.idle?.unsubscribe();
  }

  release(): void {
    if (--this.holds === 0 && this.groups.length === 0 && !this.ended) this.idle = this.options.scheduler.schedule(() => this.close(), this.lingerMs);
  }

  /** Ends the process (stdin closed: `ip` exits when it has read everything). */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.watch?.unsubscribe();
    this.options.onEnd();
    this.child.stdin.end();
  }

  private read(chunk: string): void {
    this.buffer += chunk;
    const lines = this.buffer.split('\n');
    this.buffer = lines.pop() ?? '';
    for (const text of lines) {
      const group = this.groups[0];
      if (group === undefined) continue;
      const failed = /^Command failed -:(\d+)$/.exec(text);
      if (failed === null) {
        if (/^[[{]/.test(text)) group.outputs.push(text);
        else if (text) this.said.push(text);
        continue;
      }
      const n = Number(failed[1]);
      if (n === group.markerLine) this.settle(group);
      else group.failed ??= { line: group.lines[n - group.first] ?? `line ${n}`, detail: this.said.join('\n') };
      this.said = [];
    }
  }

  private settle(group: Group): void {
    this.groups.shift();
    this.deadline?.unsubscribe();
    this.deadline = this.groups.length ? this.options.scheduler.schedule(() => this.kill(`no answer within ${timeoutMs} ms`), timeoutMs) : undefined;
    if (group.failed || group.lines.some((l) => / netns \//.test(l))) this.close();
    if (this.groups.length === 0 && this.holds === 0 && !this.ended) this.idle = this.options.scheduler.schedule(() => this.close(), this.lingerMs);
    if (group.failed) group.subscriber.error(failure(`ip ${group.failed.line}`, group.failed.detail, 1));
    else {
      group.subscriber.next(group.outputs);
      group.subscriber.complete();
    }
  }

  private kill(why: string): void {
    this.child.kill('SIGKILL');
    this.end(why);
  }

  /** The process is gone: its groups fail with what it said last. */
  private end(why: string): void {
    if (!this.ended) this.options.onEnd();
    this.ended = true;
    this.watch?.unsubscribe();
    this.idle?.unsubscribe();
    this.deadline?.unsubscribe();
    const said = [...this.said, this.buffer].filter(Boolean).join('\n');
    for (const group of this.groups.splice(0)) {
      group.subscriber.error(failure(`ip -batch ${this.where} [${group.lines.join('; ')}]`, said || why, said ? 1 : undefined));
    }
  }
}

export interface IpBatchesOptions {
  /** How long a process waits for more work before it ends, ms (default 1000). */
  idleMs?: number;
  /**
   * For a netns (`inode://dev/ino`) a stream that ends when the workload keeping it alive is
   * gone: then its process ends as soon as it is idle, whatever `idleMs` says.
   */
  workloadGone?: (netns: string) => Observable<unknown>;
  scheduler?: SchedulerLike;
}

/**
 * `ip` commands run by one long-lived `ip -batch` per network namespace instead of a process
 * per command (a spawn costs milliseconds; a line on a pipe does not). A process idle for
 * `idleMs` ends, so it never keeps a dead workload's namespace (and the interface in it,
 * still answering pings) alive for long — with `workloadGone`, not at all: it ends once idle
 * after the workload; `dispose` ends them all. A spare shell waits (at most
 * a second, in no netns) to become the next one, so a namespace's first command does not wait
 * for this process to fork.
 *
 * `run(netns, lines)` emits the JSON output lines of `lines` (those that print) once all ran,
 * or errors with the first failing line and what `ip` said of it:
 * ```
 * run(ns, ['link add …', 'link show dev x']) ──[json]|    or ──# (ip link add …: RTNETLINK answers: File exists)
 * ```
 */
export class IpBatches {
  private readonly processes = new Map<string, IpProcess>();
  private readonly idleMs: number;
  private readonly workloadGone: ((netns: string) => Observable<unknown>) | undefined;
  private readonly scheduler: SchedulerLike;
  private disposed = false;
  private spare?: { readonly child: IpChild; readonly idle: Subscription };
  private spareWanted?: Subscription;

  constructor(options: IpBatchesOptions = {}) {
    this.idleMs = options.idleMs ?? 1000;
    this.workloadGone = options.workloadGone;
    this.scheduler = options.scheduler ?? asyncScheduler;
  }

  /**
   * The pid of this pool's process in `netns`, kept alive until `release`: `ip link add … netns
   * <pid>` from another netns puts a link there without opening (and keeping) its file.
   */
  async hold(netns: NetnsPath): Promise<{ readonly pid: number; release(): void }> {
    const held = this.current(netns);
    held.hold();
    try {
      await lastValueFrom(held.run([])); // answered: it is `ip`, inside the netns
    } catch (e) {
      held.release();
      throw e;
    }
    return { pid: held.pid as number, release: () => held.release() };
  }

  /** The process for `netns` (one per namespace, however its path is spelled: a fd of ours, a bind mount). */
  private current(netns: NetnsPath): IpProcess {
    const key = netns === undefined ? 'own' : inodeUrlOf(netns);
    if (key === undefined) throw notFound(`network namespace ${netns}: cannot be opened`);
    try {
      return this.processes.get(key) ?? this.start(key, netns);
    } catch {
      throw notFound(`network namespace ${netns}: cannot be opened`);
    }
  }

  run(netns: NetnsPath, lines: readonly string[]): Observable<string[]> {
    return new Observable<string[]>((subscriber) => {
      const current = () => this.current(netns);
      try {
        // An index the kernel does not know: once more in the fresh process, which looks names up anew.
        return current()
          .run(lines)
          .pipe(catchError((e: unknown) => (/No such device|Device not found/.test(String(e)) ? current().run(lines) : throwError(() => e))))
          .subscribe(subscriber);
      } catch (e) {
        subscriber.error(e);
        return undefined;
      }
    });
  }

  /** A process for `netns`: the spare, told its path (ours by our pid), or a new one. */
  private start(key: string, netns: NetnsPath): IpProcess {
    const spare = this.spare;
    if (spare) {
      this.spare = undefined;
      spare.idle.unsubscribe();
    }
    // The next spare forks once this turn of work is done, not in its way.
    this.spareWanted ??= this.scheduler.schedule(() => this.makeSpare());
    const made: IpProcess = new IpProcess(netns ?? 'in our netns', spare?.child ?? spawnIn(netns), spare && (netns ?? `/proc/${process.pid}/ns/net`), {
      idleMs: this.idleMs,
      scheduler: this.scheduler,
      onEnd: () => this.processes.get(key) === made && this.processes.delete(key),
    });
    this.processes.set(key, made);
    // Looked for once this turn of work is done (it reads /proc).
    if (this.workloadGone && netns !== undefined) made.endWith(this.workloadGone(key).pipe(subscribeOn(this.scheduler)));
    return made;
  }

  private makeSpare(): void {
    this.spareWanted = undefined;
    if (this.disposed || this.spare) return;
    const child = spawnSpare();
    child.on('error', () => undefined); // no sh: the process it became reports it
    child.stdin.on('error', () => undefined);
    const idle = this.scheduler.schedule(() => {
      if (this.spare?.child === child) this.spare = undefined;
      child.stdin.end(); // its `read` ends, and so does it
    }, 1000);
    this.spare = { child, idle };
  }

  /** Processes running now (tests: none after dispose). */
  get size(): number {
    return this.processes.size;
  }

  dispose(): void {
    this.disposed = true;
    this.spareWanted?.unsubscribe();
    this.spare?.child.stdin.end();
    this.spare?.idle.unsubscribe();
    this.spare = undefined;
    for (const p of [...this.processes.values()]) p.close();
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defer, NEVER, Observable } from 'rxjs';
import { netnsHolder } from './netns.js';

let files = 0;

/**
 * Completes when process `pid` has exited — at once when it is gone already — as procps'
 * `pidwait` sees it through a pidfd: no polling. Errors when it cannot be watched (no
 * `pidwait`); unsubscribing ends the watch, and so does our exit, however it comes.
 *
 * ```
 * processExit(pid)  --------|        (pid exits)
 * processExit(pid)  #                (no pidwait)
 * ```
 */
export function processExit(pid: number): Observable<never> {
  return new Observable<never>((subscriber) => {
    // pidwait reads the pid from a regular file only: an unlinked one, as its fd 3.
    const path = join(tmpdir(), `nsm-rx-pidwait-${process.pid}-${files++}`);
    const fd = openSync(path, 'wx', 0o600);
    let child: ChildProcess;
    try {
      unlinkSync(path);
      writeSync(fd, `${pid}\n`);
      // Killed with us too (a forwarder's kill -9 must not leave its watches behind).
      child = spawn('setpriv', ['--pdeathsig', 'KILL', 'pidwait', '-F', '/dev/fd/3'], { stdio: ['ignore', 'ignore', 'ignore', fd] });
    } finally {
      closeSync(fd);
    }
    child.on('error', (e) => subscriber.error(e));
    // 0: it exited while watched; 1: no such process to begin with.
    child.on('exit', (code) => (code === 0 || code === 1 ? subscriber.complete() : subscriber.error(new Error(`pidwait -F (pid ${pid}): exit ${code}`))));
    return () => {
      child.removeAllListeners();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
  });
}

/**
 * Completes when the workload keeping the netns `identity` (`inode://dev/ino`) alive exits
 * (`netnsHolder`); never when no process keeps it.
 */
export function workloadExit(identity: string): Observable<never> {
  return defer(() => {
    const pid = netnsHolder(identity);
    return pid === undefined ? NEVER : processExit(pid);
  });
}

import { spawn } from 'node:child_process';
import { Observable } from 'rxjs';
import { internal } from '../../operators/core/errors.js';

/**
 * `pingReplies(src, dst, netns?)`: one long-lived `ping -i 0.2` from `src` to `dst` (inside
 * `netns` when given) and a `void` for each reply. Errors when ping exits (it cannot bind `src`,
 * or was killed); unsubscribing kills it. One process a probed pair, not one a probe: at five
 * probes a second a connection, spawning a ping each time costs a core for a hundred connections.
 *
 * ```
 * pingReplies('169.254.0.1', '169.254.0.0') ──r──r──r──  (every 200 ms while the peer answers)
 * ```
 */
export function pingReplies(src: string, dst: string, netns?: string): Observable<void> {
  return new Observable<void>((subscriber) => {
    const args = ['-n', '-i', '0.2', '-I', src, dst];
    const child = netns === undefined ? spawn('ping', args, { stdio: ['ignore', 'pipe', 'ignore'] }) : spawn('nsenter', [`--net=${netns}`, 'ping', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let partial = '';
    child.stdout.on('data', (b: Buffer) => {
      const lines = (partial + b.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (/ bytes from /.test(line)) subscriber.next();
    });
    child.once('error', (e) => subscriber.error(internal(`ping ${args.join(' ')}: ${e.message}`)));
    child.once('exit', (code, signal) => subscriber.error(internal(`ping ${args.join(' ')}: exited (${signal ?? code})`)));
    return () => {
      child.removeAllListeners();
      child.stdout.removeAllListeners();
      child.kill('SIGKILL');
    };
  });
}

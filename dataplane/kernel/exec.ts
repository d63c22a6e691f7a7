import { execFile } from 'node:child_process';
import { Observable } from 'rxjs';
import { internal, invalidArgument, type NsmError } from '../../operators/core/errors.js';

/** How long one iproute2/nsenter/tc call may take before it is killed (they answer in ms). */
export const timeoutMs = 10_000;

/**
 * Why a datapath command failed, as a gRPC status: the kernel refusing what a request asked
 * for (a bad address, a name in use, …) is the request's fault (INVALID_ARGUMENT); a missing
 * tool or a timeout is this forwarder's (INTERNAL).
 */
export function failure(command: string, stderr: string, code: unknown): NsmError {
  // The first line usually names the cause (ovs-ofctl's refused flow, ip's first bad line), the last what gave up.
  const lines = stderr.trim().split('\n').filter((l) => l.trim() !== '');
  const detail = (lines.length > 3 ? [lines[0], ...lines.slice(-2)] : lines).join('; ') || `exit ${String(code)}`;
  const message = `${command}: ${detail}`;
  return typeof code === 'number' && /Error: (inet6? prefix|any valid prefix|argument|invalid)|File exists|Invalid argument|Numerical result out of range|not a valid/i.test(stderr)
    ? invalidArgument(message)
    : internal(message);
}

/**
 * `exec(file, args, input?)` runs a command (argument array, no shell) and emits its stdout
 * once, then completes; a non-zero exit errors with the command and the last stderr lines.
 * Unsubscribing kills the command.
 *
 * ```
 * exec('ip', ['-j','link']) ──── stdout| (or #: status naming the command and its stderr)
 * ```
 */
export function exec(file: string, args: readonly string[], input?: string): Observable<string> {
  return new Observable<string>((subscriber) => {
    const abort = new AbortController();
    const child = execFile(file, args, { signal: abort.signal, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) subscriber.error(failure(`${file} ${args.join(' ')}`, stderr, (err as { code?: unknown }).code));
      else {
        subscriber.next(stdout);
        subscriber.complete();
      }
    });
    if (input !== undefined) child.stdin?.end(input);
    return () => {
      if (child.exitCode === null && child.signalCode === null) abort.abort();
    };
  });
}

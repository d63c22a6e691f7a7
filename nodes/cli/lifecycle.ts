/**
 * Graceful shutdown for daemons, the way Kubernetes stops pods: on SIGTERM (or SIGINT, SIGHUP,
 * SIGQUIT — the set upstream's signal.NotifyContext watches) run the cleanup hooks in reverse
 * order of registration (so whatever was set up last — a registration, a listening socket — is
 * undone first), give them a bounded time, then exit 0. A second signal exits at once, so a
 * stuck hook never makes a pod unkillable short of SIGKILL.
 *
 * The process is injected (`ProcessLike`) so tests drive signals with an EventEmitter and see
 * the exit code without ending the test runner.
 */

import { constants } from 'node:os';
import { type Logger, silentLogger } from '../../operators/tools/log.js';

export type SignalListener = (signal: NodeJS.Signals) => void;

/** The parts of `process` the lifecycle uses; `process` itself satisfies it. */
export interface ProcessLike {
  on(event: NodeJS.Signals, listener: SignalListener): unknown;
  off(event: NodeJS.Signals, listener: SignalListener): unknown;
  exit(code?: number): void;
}

export type ShutdownHook = () => void | Promise<void>;

export interface LifecycleOptions {
  readonly proc: ProcessLike;
  readonly log?: Logger;
  /** Upper bound for all hooks together. Default 10 s (well inside Kubernetes' 30 s grace). */
  readonly timeoutMs?: number;
  /** Signals that start a shutdown. Default SIGINT, SIGTERM, SIGHUP, SIGQUIT. */
  readonly signals?: readonly NodeJS.Signals[];
}

export interface Lifecycle {
  /** Aborted (reason: the shutdown reason) the moment shutdown starts; pass it to long work. */
  readonly signal: AbortSignal;
  readonly stopping: boolean;
  /** Registers a cleanup hook; hooks run last-registered first. Returns an unregister function. */
  onShutdown(name: string, hook: ShutdownHook): () => void;
  /**
   * Runs the hooks once (later calls return the first call's promise), then calls
   * `proc.exit(exitCode)`. Resolves with the exit code used.
   */
  shutdown(reason: string, exitCode?: number): Promise<number>;
  /** Removes the signal listeners (for tests and embedded use). */
  dispose(): void;
}

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;
export const SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** Shell convention for "killed by signal": 128 + signal number. */
const signalExitCode = (sig: NodeJS.Signals): number => 128 + (constants.signals[sig] ?? 0);

interface Entry {
  readonly name: string;
  readonly hook: ShutdownHook;
}

export function createLifecycle(opts: LifecycleOptions): Lifecycle {
  const { proc } = opts;
  const log = opts.log ?? silentLogger;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  const signals = opts.signals ?? SHUTDOWN_SIGNALS;
  const controller = new AbortController();
  const hooks: Entry[] = [];
  let done: Promise<number> | undefined;

  async function runHooks(): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const entry of [...hooks].reverse()) {
      const left = deadline - Date.now();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(0, left));
        timer.unref();
      });
      try {
        const r = await Promise.race([Promise.resolve().then(entry.hook), timedOut]);
        if (r === 'timeout') {
          log.error('shutdown timed out; skipping the remaining hooks', { hook: entry.name, timeoutMs });
          return;
        }
        log.debug('shutdown hook done', { hook: entry.name });
      } catch (e) {
        log.warn('shutdown hook failed', { hook: entry.name, error: e });
      } finally {
        clearTimeout(timer);
      }
    }
  }

  function shutdown(reason: string, exitCode = 0): Promise<number> {
    done ??= (async () => {
      log.info('shutting down', { reason });
      controller.abort(reason);
      await runHooks();
      log.info('stopped', { exitCode });
      proc.exit(exitCode);
      return exitCode;
    })();
    return done;
  }

  const onSignal: SignalListener = (sig) => {
    if (done) {
      log.warn('second signal: exiting now', { signal: sig });
      proc.exit(signalExitCode(sig));
      return;
    }
    void shutdown(`signal ${sig}`, 0);
  };
  for (const s of signals) proc.on(s, onSignal);

  return {
    signal: controller.signal,
    get stopping() {
      return done !== undefined;
    },
    onShutdown(name, hook) {
      const entry: Entry = { name, hook };
      hooks.push(entry);
      return () => {
        const i = hooks.indexOf(entry);
        if (i >= 0) hooks.splice(i, 1);
      };
    },
    shutdown,
    dispose() {
      for (const s of signals) proc.off(s, onSignal);
    },
  };
}

/**
 * Upstream's log-level signals: SIGUSR1 switches to TRACE, SIGUSR2 restores the configured
 * level. Note that Node also uses SIGUSR1 to open the inspector. Returns an uninstall function.
 */
export function installLevelSignals(proc: ProcessLike, log: Logger): () => void {
  const configured = log.getLevel();
  const toTrace: SignalListener = () => {
    log.setLevel('TRACE');
    log.info('log level set to TRACE (SIGUSR1)');
  };
  const restore: SignalListener = () => {
    log.setLevel(configured);
    log.info('log level restored (SIGUSR2)', { level: configured });
  };
  proc.on('SIGUSR1', toTrace);
  proc.on('SIGUSR2', restore);
  return () => {
    proc.off('SIGUSR1', toTrace);
    proc.off('SIGUSR2', restore);
  };
}

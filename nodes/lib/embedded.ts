import { createLifecycle, type Lifecycle } from '../cli/lifecycle.js';
import { commonSpec, loadConfig } from '../cli/config.js';
import type { RunContext } from '../cli/component.js';
import { createLogger, type Level } from '../../operators/tools/log.js';

/** How an embedded part logs: NSM_LOG_LEVEL's levels, JSON lines on stderr unless `write` is given. */
export interface LogOptions {
  /** Default WARN: a library is quiet unless asked. */
  readonly logLevel?: Level;
  readonly write?: (line: string) => void;
}

/**
 * A daemon's frame for a part run inside someone else's program: its logger, and a lifecycle
 * that neither listens to signals nor exits the process (the program decides when to stop).
 */
export function embedded(name: string, options: LogOptions = {}): RunContext & { readonly lifecycle: Lifecycle } {
  const log = createLogger(name, options.logLevel ?? 'WARN', options.write ? { write: options.write } : {});
  const lifecycle = createLifecycle({ proc: { on: () => undefined, off: () => undefined, exit: () => undefined }, signals: [], log });
  return { log, lifecycle, signal: lifecycle.signal, common: loadConfig(commonSpec, {}), env: {} };
}

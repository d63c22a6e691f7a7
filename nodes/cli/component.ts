/**
 * What a component is: the contract between the CLI frame and each `nodes/<name>/main.ts`.
 * Mains import this file, never `components.ts` (which lazily imports every main), so no import
 * cycle runs through the component list.
 */

import type { Logger } from '../../operators/tools/log.js';
import type { Metrics } from '../../operators/tools/metrics.js';
import type { CallTracing } from '../../operators/tools/tracing.js';
import type { CommonConfig, ConfigOf, Env, Spec } from './config.js';
import type { Lifecycle } from './lifecycle.js';

/** What the CLI frame hands a running component. */
export interface RunContext {
  /** Logger named after the component, at NSM_LOG_LEVEL. */
  readonly log: Logger;
  /** Register cleanup (close connections, unregister, remove sockets) with `onShutdown`. */
  readonly lifecycle: Lifecycle;
  /** Aborted when shutdown begins (same as lifecycle.signal). */
  readonly signal: AbortSignal;
  /** NSM_LOG_LEVEL, NSM_OPEN_TELEMETRY_ENDPOINT, … (commonSpec), loaded by the frame. */
  readonly common: CommonConfig;
  /** The raw environment, for unprefixed upstream variables (NODE_NAME, POD_NAME, SPIFFE_ENDPOINT_SOCKET…). */
  readonly env: Env;
  /** This daemon's metrics, served to Prometheus: only with PROMETHEUS=true (nothing is counted otherwise). */
  readonly metrics?: Metrics;
  /** Spans of this daemon's gRPC calls, exported to NSM_OPEN_TELEMETRY_ENDPOINT: only with TELEMETRY=true. */
  readonly tracing?: CallTracing;
}

export interface Component<S extends Spec = Spec> {
  /** The CLI name, e.g. `nsmgr`. */
  readonly name: string;
  /** One line for `--help`. */
  readonly summary: string;
  /** The component's own variables; the frame adds `commonSpec`. */
  readonly spec: S;
  /** Flags it takes, each standing for a variable's value (e.g. `--json` → NSM_OUTPUT=json); others exit 2. */
  readonly flags?: Readonly<Record<string, { readonly env: string; readonly value: string }>>;
  /**
   * Runs the component. Resolves when it has finished its job (e.g. nsc-init) or, for daemons,
   * when it has stopped after `ctx.signal` aborted; rejects on a fatal error (exit 1). The frame
   * then runs the lifecycle hooks and exits. (Declared as a method so a `Component<S>` is a
   * `Component<Spec>` in the registry.)
   */
  run(config: ConfigOf<S>, ctx: RunContext): Promise<void>;
}

/** Identity helper that infers `S`, so `run`'s config is typed from the spec. */
export function defineComponent<const S extends Spec>(c: Component<S>): Component<S> {
  return c;
}

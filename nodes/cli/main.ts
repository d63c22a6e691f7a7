/**
 * `nsm-rx <component> [--help]`: the one binary for every nsm-rx daemon. It loads the named
 * component lazily, reads its `NSM_*` configuration (refusing to start on any bad value — a
 * half-configured daemon in a mesh is worse than a pod in CrashLoopBackOff with a clear
 * message), wires logging and graceful shutdown, and runs it.
 *
 * `main` takes all process interaction as arguments so tests run it in-process; `cli` binds it
 * to the real process for bin/nsm-rx.js.
 */

import { setFlagsFromString } from 'node:v8';
import { createLogger } from '../../operators/tools/log.js';
import type { Component, RunContext } from './component.js';
import { type Registry, components, findComponent } from './components.js';
import { startProfiler, startPrometheus, startTelemetry } from './observability.js';
import { ConfigError, type ConfigOf, type ConfigProblem, type Env, type Spec, commonSpec, helpText, loadConfig, unknownVariables } from './config.js';
import { type ProcessLike, createLifecycle, installLevelSignals } from './lifecycle.js';
import { tierUpSooner } from './tierUp.js';

/** Exit code for usage and configuration errors (as flag parsing errors in Go are). */
export const EXIT_USAGE = 2;

export interface CliIo {
  /** Arguments after `node nsm-rx.js`. */
  readonly argv: readonly string[];
  readonly env: Env;
  readonly proc: ProcessLike;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Where log lines go; default stderr. */
  readonly logWrite?: (line: string) => void;
  /** Whether they go to a terminal: then, unless NSM_LOG_FORMAT says otherwise, they are readable text lines. */
  readonly logToTerminal?: boolean;
  /** Called once the component's modules are loaded, before its configuration is read. */
  readonly loaded?: () => void;
  /** Bound for the shutdown hooks (ms). */
  readonly shutdownTimeoutMs?: number;
}

export function usage(registry: Registry): string {
  const names = Object.keys(registry).sort();
  const width = Math.max(0, ...names.map((n) => n.length));
  const list = names.length > 0 ? names.map((n) => `  ${n.padEnd(width)}  ${registry[n]?.summary ?? ''}`) : ['  (none yet)'];
  return [
    'nsm-rx: Network Service Mesh components, configuration-compatible with upstream cmd-*',
    '',
    'Usage: nsm-rx <component> [--help]',
    '',
    'Components:',
    ...list,
    '',
    'Each component reads the NSM_* environment variables of its upstream cmd-<component>;',
    '`nsm-rx <component> --help` lists them with their defaults.',
    '',
  ].join('\n');
}

const validList = (registry: Registry): string => Object.keys(registry).sort().join(', ') || '(none yet)';

/** Runs the CLI and resolves with the exit code (daemons exit through the lifecycle first). */
export async function main(io: CliIo, registry: Registry = components): Promise<number> {
  const help = io.argv.some((a) => a === '--help' || a === '-h' || a === 'help');
  const flags = io.argv.filter((a) => a.startsWith('-') && a !== '--help' && a !== '-h');
  const positional = io.argv.filter((a) => !a.startsWith('-') && a !== 'help');
  const stray = (arg: string | undefined) => {
    io.err(`nsm-rx: unexpected argument ${JSON.stringify(arg)}; configuration is by NSM_* environment variables\n\n${usage(registry)}`);
    return EXIT_USAGE;
  };
  if (positional.length > 1) return stray(positional[1]);
  // A component's flags follow its name.
  const beforeName = flags.find((f) => positional[0] === undefined || io.argv.indexOf(f) < io.argv.indexOf(positional[0]));
  if (beforeName !== undefined && !help) return stray(beforeName);
  const name = positional[0];
  if (name === undefined) {
    (help ? io.out : io.err)(usage(registry));
    return help ? 0 : EXIT_USAGE;
  }
  const entry = findComponent(registry, name);
  if (!entry) {
    io.err(`nsm-rx: unknown component ${JSON.stringify(name)}; valid components: ${validList(registry)}\n`);
    return EXIT_USAGE;
  }
  const component = await entry.load();
  io.loaded?.();
  // The few flags a tool takes stand for variables (e.g. `connections --json` for NSM_OUTPUT=json).
  const unknownFlag = flags.find((f) => component.flags?.[f] === undefined);
  if (unknownFlag !== undefined) return stray(unknownFlag);
  const env = { ...io.env, ...Object.fromEntries(flags.map((f) => [component.flags?.[f]?.env ?? '', component.flags?.[f]?.value ?? ''])) };
  const fullSpec: Spec = { ...commonSpec, ...component.spec };
  if (help) {
    io.out(helpText(name, component.summary, { ...component.spec, ...commonSpec }));
    return 0;
  }
  return start(name, component, fullSpec, { ...io, env });
}

async function start(name: string, component: Component, fullSpec: Spec, io: CliIo): Promise<number> {
  const problems: ConfigProblem[] = [];
  const load = <S extends Spec>(spec: S): ConfigOf<S> | undefined => {
    try {
      return loadConfig(spec, io.env);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(...e.problems);
      return undefined;
    }
  };
  const common = load(commonSpec);
  const config = load(component.spec);
  if (!common || !config) {
    io.err(`nsm-rx ${name}: invalid configuration, not starting:\n${problems.map((p) => `  ${p.message}\n`).join('')}See: nsm-rx ${name} --help\n`);
    return EXIT_USAGE;
  }

  const format = common.logFormat === 'auto' ? (io.logToTerminal ? 'text' : 'json') : common.logFormat;
  const log = createLogger(name, common.logLevel, { format, ...(io.logWrite ? { write: io.logWrite } : {}) });
  for (const v of unknownVariables(fullSpec, io.env)) log.warn('ignoring unknown variable (a typo?)', { variable: v });
  log.info('starting', { config: { ...common, ...config } });

  const lifecycle = createLifecycle({ proc: io.proc, log, ...(io.shutdownTimeoutMs !== undefined ? { timeoutMs: io.shutdownTimeoutMs } : {}) });
  const uninstallLevels = installLevelSignals(io.proc, log);
  lifecycle.onShutdown('log-level signals', uninstallLevels);
  // prom-client is loaded for PROMETHEUS=true or TELEMETRY=true only: without them a daemon counts nothing and carries none of it.
  const metrics = common.prometheus || common.telemetry ? new (await import('../../operators/tools/metrics.js')).Metrics({ processMetrics: true }) : undefined;
  const tracing = await startTelemetry({ log, lifecycle, signal: lifecycle.signal, common, env: io.env }, io.env['NSM_NAME'] ?? name, metrics);
  const ctx: RunContext = { log, lifecycle, signal: lifecycle.signal, common, env: io.env, ...(metrics ? { metrics } : {}), ...(tracing ? { tracing } : {}) };
  const observability = [...(metrics && common.prometheus ? [['the Prometheus endpoint', () => startPrometheus(ctx, metrics)] as const] : []), ['the profiler', () => startProfiler(ctx)] as const];
  for (const [what, start] of observability) {
    start().catch((e: unknown) => {
      log.fatal(`${what} failed`, { error: e });
      void lifecycle.shutdown(`${what} failed`, 1);
    });
  }

  let code = 0;
  let reason = 'finished';
  try {
    await component.run(config, ctx);
  } catch (e) {
    if (e instanceof ConfigError) {
      // Variables that are fine one by one but not together (checked by the component).
      io.err(`nsm-rx ${name}: invalid configuration, not starting:\n${e.problems.map((p) => `  ${p.message}\n`).join('')}See: nsm-rx ${name} --help\n`);
      code = EXIT_USAGE;
      reason = 'invalid configuration';
    } else if (!lifecycle.stopping) {
      log.fatal('component failed', { error: e });
      code = 1;
      reason = 'fatal error';
    } else log.debug('run ended with an error during shutdown', { error: e });
  }
  const exitCode = await lifecycle.shutdown(reason, code);
  lifecycle.dispose();
  return exitCode;
}

/**
 * V8 doubles the young generation (up to 2 × 16 MiB) whenever much of it survives a scavenge,
 * as nearly everything does while modules load, and an idle daemon never gives it back. Loading
 * with growth off keeps an idle daemon ~5 MiB smaller (test/bench/memory.bench.ts); growth is back on before the component
 * starts, so load sizes the young generation as before.
 */
const YOUNG_GROWTH = '--semi-space-growth-factor=2'; // V8's default
const NO_YOUNG_GROWTH = '--semi-space-growth-factor=1';

/** Binds `main` to the real process (used by bin/nsm-rx.js). */
export async function cli(): Promise<void> {
  setFlagsFromString(NO_YOUNG_GROWTH);
  tierUpSooner();
  process.exitCode = await main({
    loaded: () => setFlagsFromString(YOUNG_GROWTH),
    argv: process.argv.slice(2),
    env: process.env,
    proc: process,
    out: (s) => void process.stdout.write(s),
    err: (s) => void process.stderr.write(s),
    logToTerminal: process.stderr.isTTY === true,
  });
}

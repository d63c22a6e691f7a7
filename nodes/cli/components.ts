/**
 * The component registry: `nsm-rx <name>` → the module implementing it. Names are the upstream
 * cmd-* repository names without `cmd-` (nsmgr, registry-memory, forwarder-kernel, …) plus
 * `mesh`, the local demo mesh behind `npm start`.
 *
 * Modules are imported lazily so `nsm-rx --help` and every component start without loading the
 * others (gRPC, k8s clients, dataplane code). The summary lives here, not in the module, so the
 * component list needs no import at all.
 */

import type { Logger } from '../../operators/tools/log.js';
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
}

export interface Component<S extends Spec = Spec> {
  /** The CLI name, e.g. `nsmgr`. */
  readonly name: string;
  /** One line for `--help`. */
  readonly summary: string;
  /** The component's own variables; the frame adds `commonSpec`. */
  readonly spec: S;
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

export interface ComponentEntry {
  readonly summary: string;
  readonly load: () => Promise<Component>;
}

export type Registry = Readonly<Record<string, ComponentEntry>>;

/**
 * Only components that exist are listed. Add one as
 * `nsmgr: { summary: '…', load: () => import('../nsmgr/main.js').then((m) => m.component) }`.
 */
export const components: Registry = {
  'forwarder-kernel': {
    summary: 'the forwarder on the Linux kernel: veth and VXLAN, no daemon (needs root)',
    load: () => import('../forwarder-kernel/main.js').then((m) => m.component),
  },
  'forwarder-noop': {
    summary: 'a forwarder without a datapath (control plane only: tests, meshes without root)',
    load: () => import('../forwarder-noop/main.js').then((m) => m.component),
  },
  identity: {
    summary: 'a SPIFFE identity provider: local CA serving the Workload API (in place of a SPIRE agent)',
    load: () => import('../identity/main.js').then((m) => m.component),
  },
  nsc: {
    summary: 'a client keeping connections to network services (upstream cmd-nsc)',
    load: () => import('../nsc/main.js').then((m) => m.component),
  },
  'nsc-init': {
    summary: 'requests the connections and exits, leaving them for the nsc (upstream cmd-nsc-init)',
    load: () => import('../nsc-init/main.js').then((m) => m.component),
  },
  'nse-icmp-responder': {
    summary: 'an endpoint handing out point-to-point addresses (upstream cmd-nse-icmp-responder)',
    load: () => import('../nse-icmp-responder/main.js').then((m) => m.component),
  },
  nsmgr: {
    summary: 'the node manager: forwarder selection, registry proxy, monitor (upstream cmd-nsmgr)',
    load: () => import('../nsmgr/main.js').then((m) => m.component),
  },
  'registry-memory': {
    summary: 'NS and NSE registries in memory (upstream cmd-registry-memory)',
    load: () => import('../registry-memory/main.js').then((m) => m.component),
  },
  mesh: {
    summary: 'local mesh: registry, nsmgr, forwarder, NSE and nsc over gRPC (what npm start runs)',
    load: () => import('../mesh/main.js').then((m) => m.component),
  },
};

/** Looks a name up without falling into Object.prototype (`nsm-rx constructor`). */
export function findComponent(registry: Registry, name: string): ComponentEntry | undefined {
  return Object.hasOwn(registry, name) ? registry[name] : undefined;
}

import { defineComponent, type RunContext } from '../cli/component.js';
import { str } from '../cli/config.js';
import { createLifecycle, type ProcessLike } from '../cli/lifecycle.js';
import { component as kernelForwarder, spec as forwarderKernelSpec } from '../forwarder-kernel/main.js';
import { component as nsmgr, spec as nsmgrSpec } from '../nsmgr/main.js';

// The forwarder's own identity and wiring come from the nsmgr's variables (see run).
const { name: _name, nsName: _nsName, connectTo: _connectTo, listenOn: _listenOn, ...forwarderOnly } = forwarderKernelSpec;

const spec = {
  ...forwarderOnly,
  ...nsmgrSpec,
  forwarderName: str('NSM_FORWARDER_NAME', 'forwarder', 'nsm-rx node: name of the forwarder half (its NSE name and path segment)'),
};

/** A half's process: signals and exit belong to the node, which stops the halves itself. */
const inProcess: ProcessLike = { on: () => undefined, off: () => undefined, exit: () => undefined };

/** A RunContext of its own for one half, so the node decides the order the halves stop in. */
function half(ctx: RunContext, name: string): RunContext {
  const log = ctx.log.with({ half: name });
  const lifecycle = createLifecycle({ proc: inProcess, log, signals: [] });
  return { ...ctx, log, lifecycle, signal: lifecycle.signal };
}

/**
 * `nsm-rx node`: a node's nsmgr and kernel forwarder in one process (one Node runtime instead
 * of two). Each half is the same component as `nsm-rx nsmgr` / `nsm-rx forwarder-kernel`, with
 * the variables both read set once; the forwarder listens on a unix socket in a temp dir and
 * registers through the nsmgr's first unix NSM_LISTEN_ON URL, as a separate forwarder would.
 * It stops first, so it unregisters while the nsmgr still serves.
 */
export const component = defineComponent({
  name: 'node',
  summary: 'nsmgr and forwarder-kernel in one process (NSM_FORWARDER_NAME names the forwarder)',
  spec,
  async run(config, ctx) {
    const connectTo = config.listenOn.find((u) => u.scheme === 'unix') ?? config.listenOn[0];
    if (connectTo === undefined) throw new Error('NSM_LISTEN_ON names no URL');
    const manager = half(ctx, 'nsmgr');
    const forwarder = half(ctx, 'forwarder');
    ctx.lifecycle.onShutdown('node', async () => {
      const reason = String(ctx.signal.reason ?? 'node stopping');
      await forwarder.lifecycle.shutdown(reason);
      await manager.lifecycle.shutdown(reason);
    });
    const forwarderConfig = { ...config, name: config.forwarderName, nsName: config.forwarderServiceName, connectTo, listenOn: undefined };
    await Promise.all([nsmgr.run(config, manager), kernelForwarder.run(forwarderConfig, forwarder)]);
  },
});

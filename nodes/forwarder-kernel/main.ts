import { KernelDatapath } from '../../dataplane/kernel/kernel.js';
import { kernelDatapathMissing } from '../../dataplane/kernel/host.js';
import { defineComponent } from '../cli/component.js';
import { forwarderSpec, runForwarder, tunnelIpOf, tunnelSpec } from '../forwarder/daemon.js';

export const spec = { ...forwarderSpec, ...tunnelSpec };

/**
 * `nsm-rx forwarder-kernel`: the forwarder on the Linux kernel — veth pairs between workload
 * namespaces for local connections, VXLAN devices (underlay in this netns) for remote ones.
 * Needs root, iproute2 and nsenter; says exactly what is missing otherwise.
 */
export const component = defineComponent({
  name: 'forwarder-kernel',
  summary: 'the forwarder on the Linux kernel: veth and VXLAN, no daemon (needs root)',
  spec,
  async run(config, ctx) {
    const missing = kernelDatapathMissing();
    if (missing) throw new Error(`forwarder-kernel cannot run here: ${missing}`);
    const tunnelIp = tunnelIpOf(config, ctx);
    await runForwarder(config, ctx, new KernelDatapath({ ...(tunnelIp ? { tunnelIp } : {}), vxlanPort: config.vxlanPort || 4789 }));
  },
});

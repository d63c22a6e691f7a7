import { isIP } from 'node:net';
import { KernelDatapath } from '../../dataplane/kernel/kernel.js';
import { defaultRouteIp, kernelDatapathMissing } from '../../dataplane/kernel/host.js';
import { defineComponent } from '../cli/component.js';
import { InvalidValue, uint, variable } from '../cli/config.js';
import { forwarderSpec, runForwarder } from '../forwarder/daemon.js';

export const spec = {
  ...forwarderSpec,
  tunnelIp: variable({
    env: 'NSM_TUNNEL_IP',
    def: '',
    description: 'Underlay address for VXLAN tunnels (default: the address of the default-route interface)',
    kind: 'IP',
    expected: 'an IP address (or CIDR) such as 10.0.0.5',
    parse: (raw: string) => {
      const ip = raw.split('/')[0] ?? '';
      if (raw !== '' && !isIP(ip)) throw new InvalidValue();
      return ip;
    },
    zero: () => '',
  }),
  // cmd-forwarder-ovs's default; cmd-forwarder-vpp's 0 means the same (the IANA port).
  vxlanPort: uint('NSM_VXLAN_PORT', '4789', 'UDP port of the VXLAN tunnels (0: 4789)', { max: 65535 }),
};

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
    const tunnelIp = config.tunnelIp || defaultRouteIp();
    if (tunnelIp === undefined) ctx.log.warn('no NSM_TUNNEL_IP and no default route: only local connections will work');
    await runForwarder(config, ctx, new KernelDatapath({ ...(tunnelIp ? { tunnelIp } : {}), vxlanPort: config.vxlanPort || 4789 }));
  },
});

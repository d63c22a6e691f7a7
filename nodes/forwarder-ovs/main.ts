import { lastValueFrom } from 'rxjs';
import { kernelDatapathMissing } from '../../dataplane/kernel/host.js';
import { ensureOvsDaemons } from '../../dataplane/ovs/daemons.js';
import { OvsdbSession } from '../../dataplane/ovs/ovsdbSession.js';
import { OvsDatapath } from '../../dataplane/ovs/ovsDatapath.js';
import { exec } from '../../dataplane/kernel/exec.js';
import { messageOf } from '../../operators/core/errors.js';
import { defineComponent } from '../cli/component.js';
import { str } from '../cli/config.js';
import { forwarderSpec, runForwarder, tunnelIpOf, tunnelSpec } from '../forwarder/daemon.js';

export const spec = {
  ...forwarderSpec,
  ...tunnelSpec,
  bridgeName: str('NSM_BRIDGE_NAME', 'br-nsm', 'The OVS bridge the connections are joined on (created when missing, removed at exit when this forwarder started OVS)'),
};

/** Where OVS's sockets are: OVS_RUNDIR as OVS's own tools read it, else Debian's. */
const rundirOf = (env: NodeJS.ProcessEnv) => env['OVS_RUNDIR'] || '/var/run/openvswitch';

/**
 * `nsm-rx forwarder-ovs` (upstream cmd-forwarder-ovs): the forwarder on Open vSwitch. It uses the
 * ovsdb-server and ovs-vswitchd running in OVS_RUNDIR, or starts them there (the userspace
 * datapath where the kernel module is not loaded), makes sure NSM_BRIDGE_NAME exists, removes
 * what a predecessor of the same NSM_NAME left on it, and joins each connection's sides on the
 * bridge with flows carrying the connection's cookie (veth ports for KERNEL, a VXLAN device for
 * the remote side). At exit the OVS it started goes, bridge and all; OVS it found stays.
 */
export const component = defineComponent({
  name: 'forwarder-ovs',
  summary: 'the forwarder on Open vSwitch: veth ports and VXLAN joined by flows (needs root and openvswitch-switch)',
  spec,
  async run(config, ctx) {
    const missing = kernelDatapathMissing();
    if (missing) throw new Error(`forwarder-ovs cannot run here: ${missing}`);
    const daemons = await ensureOvsDaemons(rundirOf(ctx.env));
    ctx.log.info('Open vSwitch', { db: daemons.db, datapathType: daemons.datapathType, startedByAForwarder: daemons.ours });
    const ovsdb = new OvsdbSession(daemons.db, { echoInterval: 5000, onRetry: (e) => ctx.log.warn('cannot reach ovsdb-server; trying again in 1 s', { db: daemons.db, error: messageOf(e) }) });
    const tunnelIp = tunnelIpOf(config, ctx);
    const datapath = await OvsDatapath.start({
      owner: config.name,
      ovsdb,
      bridge: { bridge: config.bridgeName, rundir: daemons.rundir },
      datapathType: daemons.datapathType,
      nodeNetns: `/proc/${process.pid}/ns/net`,
      ...(tunnelIp ? { tunnelIp } : {}),
      vxlanPort: config.vxlanPort || 4789,
    });
    ctx.lifecycle.onShutdown('Open vSwitch', async () => {
      if (daemons.ours) {
        await lastValueFrom(exec('ovs-vsctl', [`--db=${daemons.db}`, '--if-exists', 'del-br', config.bridgeName]), { defaultValue: '' }).catch((e: unknown) =>
          ctx.log.warn('cannot remove the bridge', { bridge: config.bridgeName, error: messageOf(e) }),
        );
      }
      await ovsdb.close();
      await daemons.stop();
    });
    await runForwarder({ ...config, bridgeName: undefined }, ctx, datapath);
  },
});

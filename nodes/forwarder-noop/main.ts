import { NoopDatapath } from '../../dataplane/noop.js';
import { defineComponent } from '../cli/component.js';
import { forwarderSpec, runForwarder } from '../forwarder/daemon.js';

/**
 * `nsm-rx forwarder-noop`: a forwarder's control plane with a datapath that programs nothing —
 * discovery, endpoint selection, mechanisms, monitor and heal, for tests and meshes without
 * root. Same variables as forwarder-kernel, minus the tunnel ones.
 */
export const component = defineComponent({
  name: 'forwarder-noop',
  summary: 'a forwarder without a datapath (control plane only: tests, meshes without root)',
  spec: forwarderSpec,
  run: (config, ctx) => runForwarder(config, ctx, new NoopDatapath()),
});

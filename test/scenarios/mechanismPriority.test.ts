import { defer } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Mechanism } from '../../proto/gen/connection.js';
import type { NetworkServiceElement } from '../../operators/core/networkservice.js';
import { NoopDatapath } from '../../dataplane/noop.js';
import { useSandbox } from '../sandbox/harness.js';
import { Mesh } from '../sandbox/mesh.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };

/** A datapath offering the next hop KERNEL, then MEMIF, then VXLAN (as a VPP forwarder offers several). */
class ManyMechanisms extends NoopDatapath {
  override outgoingPreferences(): Mechanism[] {
    return ['KERNEL', 'MEMIF', 'VXLAN'].map((type) => ({ cls: type === 'VXLAN' ? 'REMOTE' : 'LOCAL', type, parameters: {} }));
  }
}

describe('forwarder NSM_MECHANISM_PRIORITY (upstream sdk-vpp mechanismpriority client)', () => {
  const h = useSandbox();

  it.each([
    { priority: undefined, offered: ['KERNEL', 'MEMIF', 'VXLAN'] },
    { priority: ['vxlan', 'memif'], offered: ['VXLAN', 'MEMIF', 'KERNEL'] },
  ])('priority $priority: the next hop is offered $offered', async ({ priority, offered }) => {
    const mesh = await Mesh.build(h.sandbox, { nodes: 1, defaultForwarder: false });
    await mesh.addForwarder(0, { datapath: new ManyMechanisms(), ...(priority ? { mechanismPriority: priority } : {}) });
    const seen: string[][] = [];
    const recorder: NetworkServiceElement = {
      request: (request, ctx, next) =>
        defer(() => {
          seen.push(request.mechanismPreferences.map((m) => m.type));
          return next.request(request, ctx);
        }),
    };
    await mesh.endpoint(0, 'nse', { additional: [recorder] });
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    const conn = await nsc.request({ connection: { id: 'nsc-1', networkService: 'ns' }, mechanismPreferences: [kernel] });
    expect(seen[0]).toEqual(offered);
    await nsc.close(conn);
  });
});

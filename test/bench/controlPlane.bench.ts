import { resolvePolicies } from '../../operators/authorize/policies.js';
import { Mesh } from '../sandbox/mesh.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { measure, type BenchResult } from './stats.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };

/** One Request+Close loop through a fresh mesh: local (4 segments) or remote (6), plaintext or secure. */
async function requestClose(quick: boolean, remote: boolean, secure: boolean): Promise<BenchResult> {
  // Secure as the daemons run by default: mTLS everywhere, ES256 tokens, upstream's server policies.
  const policies = secure ? { server: resolvePolicies(['etc/nsm/opa/common/.*.rego', 'etc/nsm/opa/server/.*.rego']) } : {};
  const sandbox = await Sandbox.create({ secure, policies });
  try {
    const mesh = await Mesh.build(sandbox, { nodes: remote ? 2 : 1 });
    await mesh.endpoint(remote ? 1 : 0, 'nse');
    const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { retry: false, heal: false });
    let i = 0;
    const what = `${remote ? 'remote (6 segments)' : 'local (4 segments)'} Request+Close, discovery, no-op datapath${secure ? ', mTLS + tokens + policies' : ', NSM_INSECURE'}`;
    return await measure(what, quick ? 200 : 1000, 100, async () => {
      const conn = await nsc.request({ connection: { id: `nsc-${i++}`, networkService: 'ns' }, mechanismPreferences: [kernel] });
      await nsc.close(conn);
    });
  } finally {
    await sandbox.cleanup();
  }
}

/**
 * Control-plane figures with the no-op datapath, everything in one process: a Request+Close
 * from an nsc through nsmgr → forwarder → NSE (local, 4 segments) and through two nodes
 * (remote, 6 segments), registry discovery included; and what security costs (local, secure
 * vs NSM_INSECURE: the ratio of p50s).
 */
export async function controlPlaneBenchmarks(quick: boolean): Promise<BenchResult[]> {
  const insecure = await requestClose(quick, false, false);
  const remote = await requestClose(quick, true, false);
  const secure = await requestClose(quick, false, true);
  const ratio = { 'secure/insecure p50': Number((secure.p50Ms / insecure.p50Ms).toFixed(2)) };
  return [insecure, remote, { ...secure, extra: ratio }];
}

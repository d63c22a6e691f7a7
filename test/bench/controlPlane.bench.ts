import { Mesh } from '../sandbox/mesh.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { measure, type BenchResult } from './stats.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };

/**
 * Control-plane figures with the no-op datapath, everything in one process: a Request+Close
 * from an nsc through nsmgr → forwarder → NSE (local, 4 segments) and through two nodes
 * (remote, 6 segments), registry discovery included.
 */
export async function controlPlaneBenchmarks(quick: boolean): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const remote of [false, true]) {
    const sandbox = await Sandbox.create();
    try {
      const mesh = await Mesh.build(sandbox, { nodes: remote ? 2 : 1 });
      await mesh.endpoint(remote ? 1 : 0, 'nse');
      const nsc = sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { retry: false, heal: false });
      let i = 0;
      results.push(
        await measure(`${remote ? 'remote (6 segments)' : 'local (4 segments)'} Request+Close, discovery, no-op datapath`, quick ? 200 : 1000, 100, async () => {
          const conn = await nsc.request({ connection: { id: `nsc-${i++}`, networkService: 'ns' }, mechanismPreferences: [kernel] });
          await nsc.close(conn);
        }),
      );
    } finally {
      await sandbox.cleanup();
    }
  }
  return results;
}

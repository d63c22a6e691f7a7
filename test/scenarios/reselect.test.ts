import { describe, expect, it } from 'vitest';
import { Counter } from '../sandbox/counter.js';
import { useSandbox } from '../sandbox/harness.js';
import { Mesh } from '../sandbox/mesh.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };
const request = (id: string) => ({ connection: { id, networkService: 'ns' }, mechanismPreferences: [kernel] });

/**
 * Upstream's reselect_test setup: `nodes` nodes, each an nsmgr and one forwarder whose onward
 * Closes are counted (every attempt, as upstream's count client), the NSE on the last node and
 * a client on the first one counting its Closes too.
 */
async function setup(h: ReturnType<typeof useSandbox>, nodes: number) {
  const mesh = await Mesh.build(h.sandbox, { nodes, defaultForwarder: false });
  const counterFwd = Array.from({ length: nodes }, () => new Counter({ attempts: true }));
  for (let i = 0; i < nodes; i++) await mesh.addForwarder(i, { additional: [counterFwd[i]!.element] });
  const counterNse = new Counter();
  const nse = await mesh.endpoint(nodes - 1, 'final-endpoint', { additional: [counterNse.element] });
  const counterClient = new Counter({ attempts: true });
  const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { additional: [counterClient.element] });
  return { mesh, counterFwd, counterNse, nse, counterClient, nsc };
}

describe('chains/nsmgr reselect_test (upstream scenarios)', () => {
  const h = useSandbox();

  const nsmgrRestarts = [
    { name: 'Local', nodes: 1, restartLocal: false, restartRemote: false },
    { name: 'Remote_RestartLocal', nodes: 2, restartLocal: true, restartRemote: false },
    { name: 'Remote_RestartRemote', nodes: 2, restartLocal: false, restartRemote: true },
    { name: 'Remote_RestartBoth', nodes: 2, restartLocal: true, restartRemote: true },
  ];
  for (const sample of nsmgrRestarts) {
    it(`TestReselect_NsmgrRestart (${sample.name}): nsmgr state lost, the NSE dies, nse-2 appears; the heal's Close still reaches every forwarder once, the new NSE none; the final Close goes all the way`, async () => {
      const { mesh, counterFwd, counterNse, nse, counterClient, nsc } = await setup(h, sample.nodes);
      const conn = await nsc.request(request('nsc-1'));
      if (sample.restartLocal) await mesh.nodes[0]!.nsmgr.restart();
      if (sample.restartRemote) await mesh.nodes[1]!.nsmgr.restart();
      await nse.kill();
      await mesh.endpoint(sample.nodes - 1, 'final-endpoint-2', { additional: [counterNse.element] });

      await expect.poll(() => counterNse.uniqueRequests, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
      expect(counterClient.uniqueCloses).toBe(1); // the client closes before it reselects
      for (const c of counterFwd) expect(c.closes).toBe(1); // even where the nsmgr forgot the connection
      expect(counterNse.closes).toBe(0);

      await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
      expect(counterNse.closes).toBe(0);
      for (const c of counterFwd) expect(c.closes).toBe(1);

      const clientCloses = counterClient.closes;
      await nsc.close(conn);
      expect(counterClient.closes).toBe(clientCloses + 1);
      expect(counterNse.closes).toBe(1);
      for (const c of counterFwd) {
        expect(c.uniqueCloses).toBe(1);
        expect(c.closes).toBe(2);
      }
      await nse.start();
    });
  }

  for (const nodes of [1, 2]) {
    it(`TestReselect_LocalForwarderRestart (${nodes === 1 ? 'Local' : 'Remote'}): the local forwarder and the NSE die, nse-2 and the forwarder come back; the restarted forwarder gets no Close from the heal${nodes > 1 ? ', the remote one does' : ''}; the final Close reaches all`, async () => {
      const { mesh, counterFwd, counterNse, nse, counterClient, nsc } = await setup(h, nodes);
      const conn = await nsc.request(request('nsc-1'));
      const local = mesh.nodes[0]!.forwarders[0]!;
      await local.kill();
      await nse.kill();
      await mesh.endpoint(nodes - 1, 'final-endpoint-2', { additional: [counterNse.element] });
      await local.start();

      await expect.poll(() => counterNse.uniqueRequests, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
      expect(counterClient.uniqueCloses).toBe(1);
      expect(counterFwd[0]!.closes).toBe(0);
      if (nodes > 1) expect(counterFwd[1]!.closes).toBe(1);
      expect(counterNse.closes).toBe(0);

      await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
      expect(counterNse.closes).toBe(0);
      expect(counterFwd[0]!.closes).toBe(0);
      if (nodes > 1) expect(counterFwd[1]!.closes).toBe(1);

      const clientCloses = counterClient.closes;
      await nsc.close(conn);
      expect(counterClient.closes).toBe(clientCloses + 1);
      expect(counterNse.closes).toBe(1);
      expect(counterFwd[0]!.closes).toBe(1);
      if (nodes > 1) expect(counterFwd[1]!.closes).toBe(2);
      await nse.start();
    });
  }
});

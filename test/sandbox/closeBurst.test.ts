import { describe, expect, it, vi } from 'vitest';
import { Metrics } from '../../operators/tools/metrics.js';
import { useSandbox } from './harness.js';
import { Mesh } from './mesh.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };
const N = 300;

/** How the MonitorConnections calls the hops made have ended, by code, over every hop. */
async function monitorsEnded(metrics: Metrics): Promise<Record<string, number>> {
  const handled = (await metrics.json()).find((m) => m.name === 'grpc_client_handled_total');
  const out: Record<string, number> = {};
  for (const v of handled?.values ?? []) {
    const code = String(v.labels['grpc_code']);
    if (v.labels['grpc_method'] === 'MonitorConnections') out[code] = (out[code] ?? 0) + v.value;
  }
  return out;
}

describe('a burst of Closes', () => {
  const h = useSandbox();

  // A hop cancels a stream with RST_STREAM, and Node's HTTP/2 server answers ~1000 quick ones on a
  // session with GOAWAY(INTERNAL_ERROR), failing every call on it. The next hop ends each watch
  // after its DELETE, but its Close answer often comes first: 180 of these 900 streams were
  // cancelled when a hop let go of them at once.
  it(`${N} connections Closed at once: every hop's MonitorConnections call is ended by the next hop, none cancelled`, async () => {
    const metrics = new Metrics();
    await h.recreate({ metrics });
    const mesh = await Mesh.build(h.sandbox);
    await mesh.endpoint(0, 'nse');
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    const conns = await Promise.all(Array.from({ length: N }, (_, i) => nsc.request({ connection: { id: `nsc-${i}`, networkService: 'ns' }, mechanismPreferences: [kernel] })));
    await Promise.all(conns.map((c) => nsc.close(c)));
    // nsc → nsmgr, nsmgr → forwarder, forwarder → NSE
    await vi.waitFor(async () => expect(Object.values(await monitorsEnded(metrics)).reduce((a, b) => a + b, 0)).toBe(3 * N), { timeout: 5000, interval: 50 });
    expect(await monitorsEnded(metrics)).toEqual({ OK: 3 * N });
  });
});

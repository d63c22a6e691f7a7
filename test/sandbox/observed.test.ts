import { status } from '../../operators/core/status.js';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../operators/tools/metrics.js';
import { CallTracing, type SpanRecord } from '../../operators/tools/tracing.js';
import { useSandbox } from './harness.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };
const spans: SpanRecord[] = [];
const metrics = new Metrics();

describe('a Request and Close through nsc → nsmgr → forwarder → nse, counted and traced', () => {
  const h = useSandbox({ metrics, tracing: new CallTracing((span) => spans.push(span)) });

  it('every call of it ends OK in its spans and in grpc_*_handled_total: a caller that takes the answer cancelled nothing', async () => {
    const nse = await h.sandbox.endpoint('nse');
    const forwarder = await h.sandbox.passthrough('forwarder', nse.url);
    const nsmgr = await h.sandbox.passthrough('nsmgr', forwarder.url);
    const nsc = h.sandbox.client('nsc', nsmgr.url, { heal: false });
    await nsc.close(await nsc.request({ connection: { id: 'nsc-1', networkService: 'ns' }, mechanismPreferences: [kernel] }));

    const unary = spans.filter((s) => s.method.startsWith('networkservice.NetworkService/'));
    // Request and Close: 3 hops each, a client and a server span a hop.
    expect(unary.map((s) => `${s.method} ${s.kind}`).sort()).toEqual(
      ['Close', 'Request'].flatMap((m) => [2, 2, 2, 3, 3, 3].map((kind) => `networkservice.NetworkService/${m} ${kind}`)),
    );
    expect(unary.filter((s) => s.code !== status.OK)).toEqual([]);
    const handled = (await metrics.json()).filter((m) => m.name.endsWith('_handled_total')).flatMap((m) => m.values);
    const codes = new Set(handled.filter((v) => v.labels['grpc_service'] === 'networkservice.NetworkService').map((v) => v.labels['grpc_code']));
    expect([...codes]).toEqual(['OK']);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { startOtlpReceiver, type ReceivedSpan } from '../otlp/receiver.js';
import { describeKernel, useNamespaces } from '../kernel/namespaces.js';
import { nscEvents, stop } from './processMesh.js';
import { useProcessMesh } from './useProcessMesh.js';

// The collector listens on a unix socket: daemons in every netns reach it through the file system.
const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-otlp-'));
const socket = join(dir, 'otlp.sock');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const mesh = useProcessMesh({ TELEMETRY: 'true', NSM_OPEN_TELEMETRY_ENDPOINT: `unix://${socket}`, NSM_METRICS_EXPORT_INTERVAL: '1s' });

describeKernel('OpenTelemetry (TELEMETRY=true): spans of every gRPC call and the metrics over OTLP/gRPC, one trace per Request across the processes', () => {
  const ns = useNamespaces();

  it('nsc → nsmgr → forwarder → NSE: the Request is one trace, each hop’s server span the child of its caller’s client span', async () => {
    const receiver = await startOtlpReceiver(`unix:${socket}`);
    try {
      const [node, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
      mesh().node(node, 0);
      mesh().nse(nseNs, 0);
      const client = mesh().nsc(nscNs);
      await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 30_000 }).toBe(1);
      // The nsmgr pushes the connection's interface counters under upstream's metric names.
      const counters = () => receiver.points.filter((p) => p.service === 'nsmgr-0' && p.metric === 'forwarder_0_server_rx_bytes');
      await expect.poll(() => counters()[0], { timeout: 20_000 }).toMatchObject({ kind: 'sum', monotonic: true, attributes: { connection: expect.any(String) } });
      expect(await stop(client)).toBe(0); // its spans go out at shutdown
      const request = 'networkservice.NetworkService/Request';
      // An nsc Request is a client span with no parent; tries that failed before the NSE was
      // registered end at the nsmgr: the one that connected reaches every hop.
      const roots = () => receiver.spans.filter((s) => s.service === 'nsc' && s.name === request && s.kind === 3 && /^0*$/.test(s.parentSpanId));
      const hops = ['nsmgr-0', 'forwarder-0', 'icmp-responder'];
      const serverIn = (traceId: string, service: string) => receiver.spans.find((s) => s.traceId === traceId && s.service === service && s.name === request && s.kind === 2);
      const connected = () => roots().find((r) => hops.every((h) => serverIn(r.traceId, h) !== undefined));
      await expect.poll(connected, { timeout: 20_000 }).toBeDefined();
      const traceId = connected()?.traceId ?? '';
      const trace = () => receiver.spans.filter((s) => s.traceId === traceId);
      const serverOf = (service: string) => serverIn(traceId, service);
      // Each server span's parent is a client span of the hop before it, in the same trace.
      const parentOf = (s: ReceivedSpan | undefined) => trace().find((p) => p.spanId === s?.parentSpanId);
      expect(parentOf(serverOf('nsmgr-0'))).toMatchObject({ service: 'nsc', kind: 3, name: request });
      expect(parentOf(serverOf('forwarder-0'))).toMatchObject({ service: 'nsmgr-0', kind: 3, name: request });
      expect(parentOf(serverOf('icmp-responder'))).toMatchObject({ service: 'forwarder-0', kind: 3, name: request });
    } finally {
      await receiver.stop();
    }
  }, 90_000);
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeKernel, useNamespaces } from '../kernel/namespaces.js';
import { startOtlpReceiver } from '../otlp/receiver.js';
import { nscEvents, stop } from '../process/processMesh.js';
import { useProcessMesh } from '../process/useProcessMesh.js';
import { referenceBinaries } from './reference.js';

const bin = referenceBinaries();
// One collector on a unix socket for both: every netns reaches it through the file system.
const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-otlp-'));
const socket = join(dir, 'otlp.sock');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const mesh = useProcessMesh({ TELEMETRY: 'true', NSM_OPEN_TELEMETRY_ENDPOINT: `unix://${socket}`, NSM_METRICS_EXPORT_INTERVAL: '1s' });

describeKernel('OpenTelemetry across nsm-rx and upstream NSM (sdk v1.14.5 with its otelgrpc handlers, TELEMETRY=true)', () => {
  if (bin === undefined) return;
  const ns = useNamespaces();

  it('nsm-rx nsc → upstream nsmgr → nsm-rx forwarder → nsm-rx NSE: one trace; upstream continues the context nsm-rx sends, and nsm-rx the one upstream sends', async () => {
    const receiver = await startOtlpReceiver(`unix:${socket}`);
    try {
      const [host, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
      mesh().start(host, 'registry-memory', { NSM_LISTEN_ON: mesh().sock('registry') });
      const nsmgr = mesh().sock('nsmgr-0');
      await mesh().nscPool(); // nsm-rx identity serves before the Go program asks it
      mesh().run(host, [join(bin as string, 'nsmgr'), 'nsmgr-0', nsmgr, nsmgr, mesh().sock('registry')], {});
      mesh().start(host, 'forwarder-kernel', { NSM_NAME: 'forwarder-0', NSM_CONNECT_TO: nsmgr, NSM_LISTEN_ON: mesh().sock('forwarder-0') });
      mesh().start(nseNs, 'nse-icmp-responder', { NSM_NAME: 'icmp-responder', NSM_CONNECT_TO: nsmgr, NSM_SERVICE_NAMES: 'icmp-responder', NSM_CIDR_PREFIX: '169.254.1.0/24' });
      const client = mesh().start(nscNs, 'nsc', { NSM_NAME: 'nsc', NSM_CONNECT_TO: nsmgr, NSM_NETWORK_SERVICES: 'kernel://icmp-responder/nsm-1' });
      await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 30_000 }).toBe(1);

      const request = 'networkservice.NetworkService/Request';
      const spans = () => receiver.spans.filter((s) => s.name === request);
      // The forwarder's server span of a Request that reached it, and the chain of parents above it.
      const chainOf = (traceId: string, spanId: string): string[] => {
        const span = receiver.spans.find((s) => s.traceId === traceId && s.spanId === spanId);
        return span === undefined ? [] : [...chainOf(traceId, span.parentSpanId), `${span.service}:${span.kind === 2 ? 'server' : 'client'}`];
      };
      const fromNsc = () => spans().filter((s) => s.service === 'icmp-responder' && s.kind === 2).map((s) => chainOf(s.traceId, s.spanId)).find((c) => c[0] === 'nsc:client');
      // Upstream's nsmgr nests more than one client span (its stats handler and the sdk's dial both trace).
      await expect.poll(() => fromNsc()?.join(' '), { timeout: 20_000 }).toMatch(/^nsc:client nsmgr:server (nsmgr:client )+forwarder-0:server forwarder-0:client icmp-responder:server$/);
      // Upstream's nsmgr pushes its OTLP metrics to the same collector.
      await expect.poll(() => receiver.points.some((p) => p.service === 'nsmgr'), { timeout: 20_000 }).toBe(true);
      await stop(client);
    } finally {
      await receiver.stop();
    }
  }, 90_000);
});

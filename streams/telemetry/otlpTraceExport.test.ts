import { status } from '../../operators/core/status.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CallTracing } from '../../operators/tools/tracing.js';
import { startOtlpReceiver } from '../../test/otlp/receiver.js';
import { otlpTraceExport } from './otlpTraceExport.js';

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
};

describe('otlpTraceExport', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nsm-rx-otlp-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** `n` finished server spans of one trace through `tracing`. */
  const spans = (tracing: CallTracing, n: number) => {
    for (let i = 0; i < n; i++) tracing.serve(`/networkservice.NetworkService/Request`, { get: () => undefined, set: () => undefined }).end(status.OK);
  };

  it('sends a batch as soon as maxBatch spans wait, and what is left on shutdown', async () => {
    const receiver = await startOtlpReceiver(`unix:${join(dir, 'otlp.sock')}`);
    const exporter = otlpTraceExport({ target: `unix://${join(dir, 'otlp.sock')}`, serviceName: 'nsmgr-a', delayMs: 60_000, maxBatch: 3 });
    try {
      spans(new CallTracing(exporter.record), 7);
      await until(() => receiver.spans.length === 6);
      await exporter.shutdown();
      expect(receiver.spans.length).toBe(7);
      expect(receiver.spans[0]).toMatchObject({ service: 'nsmgr-a', name: 'networkservice.NetworkService/Request', kind: 2, flags: 1, attributes: { 'rpc.system': 'grpc', 'rpc.method': 'Request', 'rpc.grpc.status_code': '0' } });
      expect(receiver.spans[0]!.endMs).toBeGreaterThanOrEqual(receiver.spans[0]!.startMs);
    } finally {
      await receiver.stop();
    }
  });

  it('sends after delayMs when fewer spans wait', async () => {
    const receiver = await startOtlpReceiver(`unix:${join(dir, 'otlp.sock')}`);
    const exporter = otlpTraceExport({ target: `unix://${join(dir, 'otlp.sock')}`, serviceName: 'nse-a', delayMs: 50 });
    try {
      spans(new CallTracing(exporter.record), 2);
      await until(() => receiver.spans.length === 2);
    } finally {
      await exporter.shutdown();
      await receiver.stop();
    }
  });

  it('drops spans past maxQueue instead of holding them, and counts them', async () => {
    const receiver = await startOtlpReceiver(`unix:${join(dir, 'otlp.sock')}`);
    const exporter = otlpTraceExport({ target: `unix://${join(dir, 'otlp.sock')}`, serviceName: 'nse-a', delayMs: 60_000, maxQueue: 3 });
    try {
      spans(new CallTracing(exporter.record), 5);
      expect(exporter.dropped()).toBe(2);
      await exporter.shutdown();
      expect(receiver.spans.length).toBe(3);
    } finally {
      await receiver.stop();
    }
  });

  it('with no collector: says so once for all the failing exports, frees their place in the queue, and still shuts down', async () => {
    const errors: string[] = [];
    const exporter = otlpTraceExport({ target: `unix://${join(dir, 'absent.sock')}`, serviceName: 'nse-a', delayMs: 60_000, maxBatch: 1, maxQueue: 1, onError: (e) => errors.push(e.message) });
    const tracing = new CallTracing(exporter.record);
    spans(tracing, 1);
    await until(() => errors.length === 1);
    for (let i = 0; i < 2; i++) {
      // Each comes after the last one's export failed: with maxQueue 1, none is dropped.
      await new Promise((r) => setTimeout(r, 100));
      spans(tracing, 1);
    }
    await exporter.shutdown();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/UNAVAILABLE|No connection|connect/i);
    expect(exporter.dropped()).toBe(0);
  });
});

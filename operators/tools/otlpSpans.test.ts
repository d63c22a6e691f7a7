import { status } from '../core/status.js';
import { describe, expect, it } from 'vitest';
import { ExportTraceServiceRequest } from '../../proto/gen/trace_service.js';
import { otlpTraceRequest, unixNanos } from './otlpSpans.js';
import type { SpanRecord } from './tracing.js';

const span = (code: status, parentSpanId: string): SpanRecord => ({
  context: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sampled: true, traceState: 'vendor=1' },
  parentSpanId,
  method: 'networkservice.NetworkService/Request',
  kind: 2,
  startMs: 1_764_950_400_123.25,
  endMs: 1_764_950_400_125.5,
  code,
});

describe('otlpTraceRequest', () => {
  it('nanoseconds since the epoch exact to the microsecond, past 2^53', () => {
    expect(unixNanos(1_764_950_400_123.25)).toBe(1_764_950_400_123_250_000n);
    expect(unixNanos(0.001)).toBe(1000n);
  });

  it('encodes spans with their service, ids, times, otelgrpc attributes and error status, and decodes back', () => {
    const wire = ExportTraceServiceRequest.encode(otlpTraceRequest('nsmgr-a', [span(status.OK, ''), span(status.PERMISSION_DENIED, 'b7ad6b7169203331')])).finish();
    const [resourceSpans] = ExportTraceServiceRequest.decode(wire).resourceSpans;
    expect(resourceSpans?.resource?.attributes).toEqual([{ key: 'service.name', value: { stringValue: 'nsmgr-a' } }]);
    const [ok, denied] = resourceSpans?.scopeSpans[0]?.spans ?? [];
    expect(resourceSpans?.scopeSpans[0]?.scope?.name).toBe('nsm-rx');
    expect(ok).toMatchObject({ name: 'networkservice.NetworkService/Request', kind: 2, traceState: 'vendor=1', flags: 1, status: undefined });
    expect(Buffer.from(ok!.traceId).toString('hex')).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(Buffer.from(ok!.spanId).toString('hex')).toBe('00f067aa0ba902b7');
    expect(ok!.parentSpanId.length).toBe(0);
    expect(Buffer.from(denied!.parentSpanId).toString('hex')).toBe('b7ad6b7169203331');
    expect([ok!.startTimeUnixNano, ok!.endTimeUnixNano]).toEqual([1_764_950_400_123_250_000n, 1_764_950_400_125_500_000n]);
    expect(Object.fromEntries(denied!.attributes.map((a) => [a.key, a.value?.stringValue ?? a.value?.intValue]))).toEqual({
      'rpc.system': 'grpc',
      'rpc.service': 'networkservice.NetworkService',
      'rpc.method': 'Request',
      'rpc.grpc.status_code': BigInt(status.PERMISSION_DENIED),
    });
    expect(denied!.status).toEqual({ code: 2, message: 'PERMISSION_DENIED' });
  });
});

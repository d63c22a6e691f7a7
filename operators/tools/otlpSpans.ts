import { status as grpcStatus } from '../core/status.js';
import type { ExportTraceServiceRequest, KeyValue, Span } from '../../proto/gen/trace_service.js';
import type { SpanRecord } from './tracing.js';

const text = (key: string, value: string): KeyValue => ({ key, value: { stringValue: value } });
const integer = (key: string, value: number): KeyValue => ({ key, value: { intValue: BigInt(value) } });

/** Milliseconds since the epoch (with a fraction) as OTLP's nanoseconds, exact to the microsecond. */
export function unixNanos(ms: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
}

/** The attributes every span of `method` has (rpc.system, rpc.service, rpc.method), made once a method. */
const methodAttributes = new Map<string, readonly KeyValue[]>();
function attributesOf(method: string): readonly KeyValue[] {
  let attributes = methodAttributes.get(method);
  if (attributes === undefined) {
    const slash = method.lastIndexOf('/');
    methodAttributes.set(method, (attributes = [text('rpc.system', 'grpc'), text('rpc.service', method.slice(0, slash)), text('rpc.method', method.slice(slash + 1))]));
  }
  return attributes;
}

/** One call's span in OTLP, with otelgrpc's attributes (rpc.system, rpc.service, rpc.method, rpc.grpc.status_code). */
function otlpSpan(s: SpanRecord): Span {
  return {
    traceId: Buffer.from(s.context.traceId, 'hex'),
    spanId: Buffer.from(s.context.spanId, 'hex'),
    traceState: s.context.traceState,
    parentSpanId: Buffer.from(s.parentSpanId, 'hex'),
    name: s.method,
    kind: s.kind,
    startTimeUnixNano: unixNanos(s.startMs),
    endTimeUnixNano: unixNanos(s.endMs),
    attributes: [...attributesOf(s.method), integer('rpc.grpc.status_code', s.code)],
    // As otelgrpc: an error status with the code's name, else unset.
    status: s.code === grpcStatus.OK ? undefined : { code: 2, message: grpcStatus[s.code] ?? String(s.code) },
    flags: s.context.sampled ? 1 : 0,
  };
}

/** An OTLP Export request for `spans` of service `serviceName` (its resource), from instrumentation scope `nsm-rx`. */
export function otlpTraceRequest(serviceName: string, spans: readonly SpanRecord[]): ExportTraceServiceRequest {
  return {
    resourceSpans: [
      {
        resource: { attributes: [text('service.name', serviceName)] },
        scopeSpans: [{ scope: { name: 'nsm-rx' }, spans: spans.map(otlpSpan) }],
      },
    ],
  };
}

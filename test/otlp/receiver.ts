import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import protobuf from 'protobufjs';

/**
 * The part of OTLP's protos (opentelemetry-proto, collector/{trace,metrics}/v1) a test reads, by
 * the spec's field numbers: what a real exporter sends decodes here as at any collector.
 */
const root = protobuf.parse(`
syntax = "proto3";
package otlp;
message Empty {}
message Resource { repeated KeyValue attributes = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; } }

message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message ScopeSpans { repeated Span spans = 2; }
message Span { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; string name = 5; int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9; Status status = 15; fixed32 flags = 16; }
message Status { string message = 2; int32 code = 3; }

message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
message ScopeMetrics { repeated Metric metrics = 2; }
message Metric { string name = 1; string unit = 3; Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; }
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message NumberDataPoint { repeated KeyValue attributes = 7; double as_double = 4; sfixed64 as_int = 6; }
message HistogramDataPoint { repeated KeyValue attributes = 9; fixed64 count = 4; double sum = 5; repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7; }
`).root;
const type = (name: string) => root.lookupType(`otlp.${name}`);

/** One span as received: ids in hex, the service that sent it. */
export interface ReceivedSpan {
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP SpanKind: 2 server, 3 client. */
  readonly kind: number;
  readonly traceState: string;
  /** Milliseconds since the epoch (from OTLP's nanoseconds). */
  readonly startMs: number;
  readonly endMs: number;
  readonly attributes: Readonly<Record<string, string>>;
  /** OTLP StatusCode (0 unset, 2 error) and its message. */
  readonly status: { readonly code: number; readonly message: string };
  readonly flags: number;
}

/** One data point of a metric as received: a number's value, or a histogram's count and buckets. */
export interface ReceivedPoint {
  readonly service: string;
  readonly metric: string;
  readonly kind: 'gauge' | 'sum' | 'histogram';
  readonly monotonic: boolean;
  readonly unit: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly value: number;
  readonly bucketCounts?: readonly number[];
}

type KeyValues = { key: string; value?: { stringValue?: string; intValue?: number; doubleValue?: number } }[] | undefined;
interface Point {
  attributes?: KeyValues;
  asDouble?: number;
  asInt?: number;
  count?: number;
  bucketCounts?: number[];
}
type Resource = { resource?: { attributes?: KeyValues } };
interface DecodedTraces {
  resourceSpans?: (Resource & { scopeSpans?: { spans?: { traceId: Uint8Array; spanId: Uint8Array; traceState?: string; parentSpanId?: Uint8Array; name: string; kind?: number; startTimeUnixNano?: number; endTimeUnixNano?: number; attributes?: KeyValues; status?: { code?: number; message?: string }; flags?: number }[] }[] })[];
}
interface DecodedMetrics {
  resourceMetrics?: (Resource & { scopeMetrics?: { metrics?: { name: string; unit?: string; gauge?: { dataPoints?: Point[] }; sum?: { dataPoints?: Point[]; isMonotonic?: boolean }; histogram?: { dataPoints?: Point[] } }[] }[] })[];
}

const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('hex');
const record = (kvs: KeyValues): Record<string, string> => Object.fromEntries((kvs ?? []).map((kv) => [kv.key, String(kv.value?.stringValue ?? kv.value?.intValue ?? kv.value?.doubleValue ?? '')]));
const serviceOf = (r: Resource) => record(r.resource?.attributes)['service.name'] ?? '';

/** A unary Export method on `path` whose requests decode as `request`, handled by `take`. */
function exportMethod<T>(path: string, request: protobuf.Type, take: (decoded: T) => void) {
  const empty = type('Empty');
  const definition = {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: Uint8Array) => Buffer.from(v),
    requestDeserialize: (b: Buffer) => request.toObject(request.decode(b), { longs: Number }) as T,
    responseSerialize: () => Buffer.from(empty.encode(empty.create({})).finish()),
    responseDeserialize: (b: Buffer) => b,
  };
  const handler = (call: { request: T }, callback: (e: null, r: object) => void) => {
    take(call.request);
    callback(null, {});
  };
  return { definition, handler };
}

/** An OTLP/gRPC collector on `address` (e.g. `unix:/tmp/otlp.sock`), keeping every span and metric point it is sent. */
export async function startOtlpReceiver(address: string): Promise<{ spans: ReceivedSpan[]; points: ReceivedPoint[]; stop(): Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const points: ReceivedPoint[] = [];
  const traces = exportMethod<DecodedTraces>('/opentelemetry.proto.collector.trace.v1.TraceService/Export', type('ExportTraceServiceRequest'), (request) => {
    for (const rs of request.resourceSpans ?? []) {
      const service = serviceOf(rs);
      for (const ss of rs.scopeSpans ?? [])
        for (const s of ss.spans ?? [])
          spans.push({
            service,
            traceId: hex(s.traceId),
            spanId: hex(s.spanId),
            parentSpanId: hex(s.parentSpanId),
            name: s.name,
            kind: s.kind ?? 0,
            traceState: s.traceState ?? '',
            startMs: (s.startTimeUnixNano ?? 0) / 1e6,
            endMs: (s.endTimeUnixNano ?? 0) / 1e6,
            attributes: record(s.attributes),
            status: { code: s.status?.code ?? 0, message: s.status?.message ?? '' },
            flags: s.flags ?? 0,
          });
    }
  });
  const metrics = exportMethod<DecodedMetrics>('/opentelemetry.proto.collector.metrics.v1.MetricsService/Export', type('ExportMetricsServiceRequest'), (request) => {
    for (const rm of request.resourceMetrics ?? []) {
      const service = serviceOf(rm);
      for (const sm of rm.scopeMetrics ?? [])
        for (const m of sm.metrics ?? []) {
          const [kind, data] = m.histogram ? (['histogram', m.histogram] as const) : m.sum ? (['sum', m.sum] as const) : (['gauge', m.gauge] as const);
          for (const p of data?.dataPoints ?? [])
            points.push({
              service,
              metric: m.name,
              kind,
              monotonic: m.sum?.isMonotonic ?? false,
              unit: m.unit ?? '',
              attributes: record(p.attributes),
              value: kind === 'histogram' ? (p.count ?? 0) : (p.asDouble ?? p.asInt ?? 0),
              ...(kind === 'histogram' ? { bucketCounts: p.bucketCounts ?? [] } : {}),
            });
        }
    }
  });
  const server = new Server();
  server.addService({ Export: traces.definition } as unknown as ServiceDefinition, { Export: traces.handler } as unknown as UntypedServiceImplementation);
  server.addService({ Export: metrics.definition } as unknown as ServiceDefinition, { Export: metrics.handler } as unknown as UntypedServiceImplementation);
  await new Promise<void>((resolve, reject) => server.bindAsync(address, ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  return { spans, points, stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())) };
}

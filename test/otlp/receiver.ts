import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import protobuf from 'protobufjs';

/**
 * The part of OTLP's trace protos (opentelemetry-proto, collector/trace/v1) a test reads, by the
 * spec's field numbers: what a real exporter sends decodes here as at any collector.
 */
const root = protobuf.parse(`
syntax = "proto3";
package otlp;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ExportTraceServiceResponse {}
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; } }
message ScopeSpans { repeated Span spans = 2; }
message Span { bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5; int32 kind = 6; }
`).root;
const Request = root.lookupType('otlp.ExportTraceServiceRequest');
const Response = root.lookupType('otlp.ExportTraceServiceResponse');

/** One span as received: ids in hex, the service that sent it. */
export interface ReceivedSpan {
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP SpanKind: 2 server, 3 client. */
  readonly kind: number;
}

interface Decoded {
  resourceSpans?: { resource?: { attributes?: { key: string; value?: { stringValue?: string } }[] }; scopeSpans?: { spans?: { traceId: Uint8Array; spanId: Uint8Array; parentSpanId?: Uint8Array; name: string; kind?: number }[] }[] }[];
}

const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('hex');

/** An OTLP/gRPC trace receiver on `address` (e.g. `unix:/tmp/otlp.sock`), keeping every span it is sent. */
export async function startOtlpReceiver(address: string): Promise<{ spans: ReceivedSpan[]; stop(): Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const server = new Server();
  const definition = {
    Export: {
      path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      requestStream: false,
      responseStream: false,
      requestSerialize: (v: Uint8Array) => Buffer.from(v),
      requestDeserialize: (b: Buffer) => Request.toObject(Request.decode(b)) as Decoded,
      responseSerialize: () => Buffer.from(Response.encode(Response.create({})).finish()),
      responseDeserialize: (b: Buffer) => b,
    },
  };
  const impl: UntypedServiceImplementation = {
    Export: (call: { request: Decoded }, callback: (e: null, r: object) => void) => {
      for (const rs of call.request.resourceSpans ?? []) {
        const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value?.stringValue ?? '';
        for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) spans.push({ service, traceId: hex(s.traceId), spanId: hex(s.spanId), parentSpanId: hex(s.parentSpanId), name: s.name, kind: s.kind ?? 0 });
      }
      callback(null, {});
    },
  };
  server.addService(definition as unknown as ServiceDefinition, impl);
  await new Promise<void>((resolve, reject) => server.bindAsync(address, ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  return { spans, stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())) };
}

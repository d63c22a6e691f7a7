import { status } from '@grpc/grpc-js';
import { context, SpanKind, SpanStatusCode, trace, type Span, type SpanContext, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { Carrier } from './traceContext.js';

/** One call's span: its context (for children) and what ends it with the call's status. */
export interface CallSpan {
  readonly context: SpanContext;
  end(code: status): void;
}

const propagator = new W3CTraceContextPropagator();
const getter = { keys: () => [], get: (c: Carrier, k: string) => c.get(k) };
const setter = { set: (c: Carrier, k: string, v: string) => c.set(k, v) };

function ending(span: Span): CallSpan {
  return {
    context: span.spanContext(),
    end: (code) => {
      span.setAttribute('rpc.grpc.status_code', code);
      if (code !== status.OK) span.setStatus({ code: SpanStatusCode.ERROR, message: status[code] });
      span.end();
    },
  };
}

/**
 * Spans for gRPC calls, as upstream's otelgrpc stats handlers make them (TELEMETRY=true): a
 * server span per call served, child of the caller's span named by W3C `traceparent` metadata,
 * and a client span per call made, whose context goes out the same way, so one Request through
 * nsc → nsmgr → forwarder → NSE is one trace across the processes.
 */
export class CallTracing {
  constructor(private readonly tracer: Tracer) {}

  /** A server span for `method` (e.g. `/networkservice.NetworkService/Request`), its parent read from `incoming`. */
  serve(method: string, incoming: Carrier): CallSpan {
    const parent = propagator.extract(context.active(), incoming, getter);
    return ending(this.tracer.startSpan(method.slice(1), { kind: SpanKind.SERVER, attributes: { 'rpc.system': 'grpc' } }, parent));
  }

  /** A client span for `method` under `parent` (if any), its context written into `outgoing`. */
  call(method: string, parent: SpanContext | undefined, outgoing: Carrier): CallSpan {
    const base = parent ? trace.setSpanContext(context.active(), parent) : context.active();
    const span = this.tracer.startSpan(method.slice(1), { kind: SpanKind.CLIENT, attributes: { 'rpc.system': 'grpc' } }, base);
    propagator.inject(trace.setSpan(base, span), outgoing, setter);
    return ending(span);
  }
}

import { randomFillSync } from 'node:crypto';
import { status } from '../core/status.js';
import type { Carrier, SpanContext } from './traceContext.js';
import { formatTraceparent, parseTraceparent } from './traceparent.js';

/** OTLP SpanKind of a call served (2) and of a call made (3). */
export type CallKind = 2 | 3;

/** A finished span of one gRPC call, as it is exported. */
export interface SpanRecord {
  readonly context: SpanContext;
  /** The caller's span id; '' for a span that starts its trace. */
  readonly parentSpanId: string;
  /** The method without its leading slash: `networkservice.NetworkService/Request`. */
  readonly method: string;
  readonly kind: CallKind;
  /** Milliseconds since the epoch, with a fraction. */
  readonly startMs: number;
  readonly endMs: number;
  readonly code: status;
}

/** One call's span: its context (for children) and what ends it with the call's status. */
export interface CallSpan {
  readonly context: SpanContext;
  end(code: status): void;
}

/** Random ids drawn from one buffer refilled 4 KiB at a time: a span costs no system call of its own. */
const pool = Buffer.alloc(4096);
let drawn = pool.length;
function randomId(bytes: number): string {
  if (drawn + bytes > pool.length) {
    randomFillSync(pool);
    drawn = 0;
  }
  const from = drawn;
  drawn += bytes;
  for (let i = from; i < drawn; i++) if (pool[i] !== 0) return pool.toString('hex', from, drawn);
  return randomId(bytes); // all zero is invalid (W3C)
}

const wallClockMs = (): number => performance.timeOrigin + performance.now();

class RecordingSpan implements CallSpan, SpanRecord {
  endMs = 0;
  code = status.OK;
  constructor(
    readonly context: SpanContext,
    readonly parentSpanId: string,
    readonly method: string,
    readonly kind: CallKind,
    readonly startMs: number,
    private readonly tracing: CallTracing,
  ) {}

  end(code: status): void {
    this.endMs = this.tracing.now();
    this.code = code;
    if (this.context.sampled) this.tracing.record(this);
  }
}

/**
 * Spans for gRPC calls, as upstream's otelgrpc stats handlers make them (TELEMETRY=true): a
 * server span per call served, child of the caller's span named by W3C `traceparent` metadata,
 * and a client span per call made, whose context goes out the same way, so one Request through
 * nsc → nsmgr → forwarder → NSE is one trace across the processes. As OpenTelemetry's default
 * sampler (parent-based, else always on) does, a span is recorded unless its caller's was not.
 * Finished spans go to `record` (the OTLP exporter); they are plain records, made for a call's
 * hot path, not OpenTelemetry SDK spans.
 */
export class CallTracing {
  constructor(
    readonly record: (span: SpanRecord) => void,
    /** Wall-clock milliseconds for span times (exported, never used for control). */
    readonly now: () => number = wallClockMs,
  ) {}

  /** A server span for `method` (e.g. `/networkservice.NetworkService/Request`), its parent read from `incoming`. */
  serve(method: string, incoming: Carrier): CallSpan {
    const parent = parseTraceparent(incoming.get('traceparent'), incoming.get('tracestate'));
    return this.start(method, 2, parent);
  }

  /** A client span for `method` under `parent` (if any), its context written into `outgoing`. */
  call(method: string, parent: SpanContext | undefined, outgoing: Carrier): CallSpan {
    const span = this.start(method, 3, parent);
    outgoing.set('traceparent', formatTraceparent(span.context));
    if (span.context.traceState !== '') outgoing.set('tracestate', span.context.traceState);
    return span;
  }

  private start(method: string, kind: CallKind, parent: SpanContext | undefined): RecordingSpan {
    const context: SpanContext = {
      traceId: parent?.traceId ?? randomId(16),
      spanId: randomId(8),
      sampled: parent?.sampled ?? true,
      traceState: parent?.traceState ?? '',
    };
    return new RecordingSpan(context, parent?.spanId ?? '', method.slice(1), kind, this.now(), this);
  }
}

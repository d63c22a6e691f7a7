import { ContextKey } from '../core/context.js';

/** A span's identity as W3C Trace Context carries it between processes: ids in lowercase hex. */
export interface SpanContext {
  /** 32 hex digits, not all zero. */
  readonly traceId: string;
  /** 16 hex digits, not all zero. */
  readonly spanId: string;
  /** The `sampled` trace flag: recorded and exported, or only passed on. */
  readonly sampled: boolean;
  /** The caller's `tracestate` header, passed on unchanged ('' when none). */
  readonly traceState: string;
}

/** The span of the call a chain is serving: calls made under it are its children (TELEMETRY=true; see tracing.ts, loaded only then). */
export const spanKey = new ContextKey<SpanContext>('otel.span');

/** How to read and write gRPC metadata's text values (grpc-js `Metadata`, kept out of this layer's types). */
export interface Carrier {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

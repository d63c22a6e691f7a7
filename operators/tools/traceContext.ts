import type { SpanContext } from '@opentelemetry/api';
import { ContextKey } from '../core/context.js';

/** The span of the call a chain is serving: calls made under it are its children (TELEMETRY=true; see tracing.ts, loaded only then). */
export const spanKey = new ContextKey<SpanContext>('otel.span');

/** How to read and write gRPC metadata's text values (grpc-js `Metadata`, kept out of this layer's types). */
export interface Carrier {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

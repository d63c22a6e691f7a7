import type { SpanContext } from './traceContext.js';

const hex = (s: string, from: number, to: number): boolean => {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
};
const zeros = (s: string, from: number, to: number): boolean => {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) !== 48) return false;
  return true;
};

/**
 * The caller's span from a W3C `traceparent` header (`00-<trace id>-<parent id>-<flags>`), or
 * undefined when there is none or it is malformed (the call then starts a new trace, as W3C
 * says). A later version may append fields after a dash; version ff and all-zero ids are invalid.
 */
export function parseTraceparent(header: string | undefined, traceState = ''): SpanContext | undefined {
  if (header === undefined) return undefined;
  const h = header.trim();
  if (h.length < 55 || (h.length > 55 && (h.startsWith('00') || h[55] !== '-'))) return undefined;
  if (h[2] !== '-' || h[35] !== '-' || h[52] !== '-' || !hex(h, 0, 2) || h.startsWith('ff')) return undefined;
  if (!hex(h, 3, 35) || !hex(h, 36, 52) || !hex(h, 53, 55) || zeros(h, 3, 35) || zeros(h, 36, 52)) return undefined;
  return { traceId: h.slice(3, 35), spanId: h.slice(36, 52), sampled: (parseInt(h.slice(53, 55), 16) & 1) === 1, traceState };
}

/** The `traceparent` header naming `span` as the parent of the call it goes out with. */
export const formatTraceparent = (span: SpanContext): string => `00-${span.traceId}-${span.spanId}-${span.sampled ? '01' : '00'}`;

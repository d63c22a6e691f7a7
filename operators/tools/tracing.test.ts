import { status } from '../core/status.js';
import { describe, expect, it } from 'vitest';
import type { Carrier } from './traceContext.js';
import { CallTracing, type SpanRecord } from './tracing.js';

/** Metadata as a plain map. */
const carrier = (init: Record<string, string> = {}): Carrier & { values: Record<string, string> } => {
  const values = { ...init };
  return { values, get: (k) => values[k], set: (k, v) => void (values[k] = v) };
};

/** A tracing whose clock reads 1000, 1001, … and whose finished spans land in `recorded`. */
function tracingUnderTest(): { tracing: CallTracing; recorded: SpanRecord[] } {
  const recorded: SpanRecord[] = [];
  let t = 1000;
  return { tracing: new CallTracing((s) => recorded.push(s), () => t++), recorded };
}

describe('CallTracing', () => {
  it('a served call without traceparent starts a trace; calls made under it are its children, and theirs the next hop', () => {
    const { tracing, recorded } = tracingUnderTest();
    const served = tracing.serve('/networkservice.NetworkService/Request', carrier());
    const outgoing = carrier();
    const made = tracing.call('/networkservice.NetworkService/Request', served.context, outgoing);
    const next = tracing.serve('/networkservice.NetworkService/Request', outgoing);

    expect(served.context.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(made.context.traceId).toBe(served.context.traceId);
    expect(next.context.traceId).toBe(served.context.traceId);
    expect(outgoing.values['traceparent']).toBe(`00-${made.context.traceId}-${made.context.spanId}-01`);
    expect(new Set([served, made, next].map((s) => s.context.spanId)).size).toBe(3);

    next.end(status.OK);
    made.end(status.OK);
    served.end(status.NOT_FOUND);
    expect(recorded.map((s) => [s.method, s.kind, s.parentSpanId, s.code])).toEqual([
      ['networkservice.NetworkService/Request', 2, made.context.spanId, status.OK],
      ['networkservice.NetworkService/Request', 3, served.context.spanId, status.OK],
      ['networkservice.NetworkService/Request', 2, '', status.NOT_FOUND],
    ]);
    expect(recorded.map((s) => [s.startMs, s.endMs])).toEqual([
      [1002, 1003],
      [1001, 1004],
      [1000, 1005],
    ]);
  });

  it('a client call with no span to continue starts its own trace', () => {
    const { tracing } = tracingUnderTest();
    const outgoing = carrier();
    const made = tracing.call('/registry.NetworkServiceEndpointRegistry/Find', undefined, outgoing);
    expect(outgoing.values['traceparent']).toBe(`00-${made.context.traceId}-${made.context.spanId}-01`);
  });

  it('passes tracestate on, and a caller that did not sample gets children that are not recorded but still propagated', () => {
    const { tracing, recorded } = tracingUnderTest();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const served = tracing.serve('/a.B/C', carrier({ traceparent: `00-${traceId}-00f067aa0ba902b7-00`, tracestate: 'vendor=1' }));
    const outgoing = carrier();
    const made = tracing.call('/a.B/D', served.context, outgoing);
    made.end(status.OK);
    served.end(status.OK);
    expect(recorded).toEqual([]);
    expect(outgoing.values).toEqual({ traceparent: `00-${traceId}-${made.context.spanId}-00`, tracestate: 'vendor=1' });
  });

  it('a malformed traceparent starts a new trace', () => {
    const { tracing } = tracingUnderTest();
    const served = tracing.serve('/a.B/C', carrier({ traceparent: '00-zz-00f067aa0ba902b7-01' }));
    served.end(status.OK);
    expect(served.context.sampled).toBe(true);
    expect(served.context.traceId).not.toContain('zz');
  });
});

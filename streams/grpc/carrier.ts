import type { Metadata } from '../../operators/core/callMetadata.js';
import type { Carrier } from '../../operators/tools/traceContext.js';

/** gRPC metadata as a trace-context carrier: its first text value of a key, and setting one. */
export const carrierOf = (metadata: Metadata): Carrier => ({
  get: (key) => {
    const value = metadata.get(key)[0];
    return typeof value === 'string' ? value : undefined;
  },
  set: (key, value) => metadata.set(key, value),
});

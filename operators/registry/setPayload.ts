import { defer } from 'rxjs';
import type { NSElement } from '../core/registry.js';

export interface SetPayloadOptions {
  /** The payload given to a service registered without one (upstream default: "IP"). */
  payload?: string;
}

/**
 * `setpayload` (NS registry server; upstream registry/common/setpayload): a network service
 * registered with an empty `payload` is registered with the default one ("IP"), so discover
 * can copy a payload into every connection. Find and Unregister pass through. The caller's
 * object is not changed (upstream sets the field on it in place); the rest of the chain gets a
 * copy.
 */
export function setPayload(options: SetPayloadOptions = {}): NSElement {
  const payload = options.payload ?? 'IP';
  return {
    register: (ns, ctx, next) => defer(() => next.register(ns.payload === '' ? { ...ns, payload } : ns, ctx)),
  };
}

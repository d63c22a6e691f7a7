import { status } from './status.js';

/**
 * An error that crosses gRPC as a proper status code (DESIGN.md: never UNKNOWN stack traces).
 * Elements throw these; the gRPC bridge maps them to the wire and back.
 */
export class NsmError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = `NsmError(${status[code]})`;
  }
}

/**
 * This side could not reach the peer at all (dial timeout, nothing listening): the call never
 * started. Upstream retries only such failures of a Find (stream creation); an error the peer
 * answered with is its answer.
 */
export class DialError extends NsmError {
  constructor(message: string) {
    super(status.UNAVAILABLE, message);
    this.name = 'DialError';
  }
}

export const invalidArgument = (msg: string) => new NsmError(status.INVALID_ARGUMENT, msg);
export const notFound = (msg: string) => new NsmError(status.NOT_FOUND, msg);
export const unavailable = (msg: string) => new NsmError(status.UNAVAILABLE, msg);
export const unimplemented = (msg: string) => new NsmError(status.UNIMPLEMENTED, msg);
export const permissionDenied = (msg: string) => new NsmError(status.PERMISSION_DENIED, msg);
export const deadlineExceeded = (msg: string) => new NsmError(status.DEADLINE_EXCEEDED, msg);
export const cancelled = (msg: string) => new NsmError(status.CANCELLED, msg);
export const internal = (msg: string) => new NsmError(status.INTERNAL, msg);
export const resourceExhausted = (msg: string) => new NsmError(status.RESOURCE_EXHAUSTED, msg);

/** The gRPC code of any error: NsmError and errors of other gRPC libraries carry one; others are INTERNAL. */
export function statusOf(err: unknown): status {
  if (err instanceof NsmError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && code in status ? code : status.INTERNAL;
}

/** A one-line message for any thrown value (a gRPC library's error may prefix "<code> <NAME>: "; keep just its details). */
export function messageOf(err: unknown): string {
  const details = (err as { details?: unknown } | null)?.details;
  if (typeof details === 'string' && details !== '') return details;
  return err instanceof Error ? err.message : String(err);
}

/** Normalises anything thrown into an NsmError (keeps the code of remote errors). */
export function toNsmError(err: unknown): NsmError {
  return err instanceof NsmError ? err : new NsmError(statusOf(err), messageOf(err));
}

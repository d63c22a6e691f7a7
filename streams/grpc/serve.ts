import type { handleServerStreamingCall, handleUnaryCall, Metadata, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import { asyncScheduler, defer, Observable, type SchedulerLike } from 'rxjs';
import { Context, ContextKey } from '../../operators/core/context.js';
import { internal, invalidArgument } from '../../operators/core/errors.js';
import type { MethodDef } from './method.js';
import { toServiceError } from './status.js';

/** What a served call knows about its caller. */
export interface IncomingCall {
  readonly metadata: Metadata;
  readonly peer: string;
}
export const incomingCallKey = new ContextKey<IncomingCall>('grpc.incomingCall');

/** Bytes that did not decode arrive as this marker so the handler can answer INVALID_ARGUMENT. */
const undecodable = Symbol('undecodable');
interface Undecodable {
  readonly [undecodable]: string;
}

/**
 * A service definition whose request decoders never throw: grpc-js would answer a decode error
 * with INTERNAL, but a malformed request is the caller's fault (INVALID_ARGUMENT).
 */
export function guardDecoding<S extends Record<string, MethodDef<unknown, unknown>>>(definition: S): S {
  const guarded: Record<string, MethodDef<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition)) {
    guarded[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (e) {
          return { [undecodable]: e instanceof Error ? e.message : String(e) };
        }
      },
    };
  }
  return guarded as S;
}

function decodeError(request: unknown, path: string): Error | undefined {
  if (typeof request === 'object' && request !== null && undecodable in request) {
    return invalidArgument(`${path}: request is not a valid protobuf message: ${(request as Undecodable)[undecodable]}`);
  }
  return undefined;
}

function callContext(call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>, scheduler: SchedulerLike): Context {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  const ctx = Context.background.with(incomingCallKey, { metadata: call.metadata, peer: call.getPeer() });
  return Number.isFinite(ms) ? ctx.withDeadline(scheduler.now() + (ms - Date.now())) : ctx;
}

/** Serves a unary method from an Observable-returning function; a cancelled call unsubscribes. */
export function unaryHandler<Req, Res>(
  path: string,
  fn: (request: Req, ctx: Context) => Observable<Res>,
  scheduler: SchedulerLike = asyncScheduler,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const bad = decodeError(call.request, path);
    if (bad) return callback(toServiceError(bad));
    let answered = false;
    const subscription = defer(() => fn(call.request, callContext(call, scheduler))).subscribe({
      next: (response) => {
        if (answered) return;
        answered = true;
        callback(null, response);
      },
      error: (e: unknown) => {
        answered = true;
        callback(toServiceError(e));
      },
      complete: () => answered || callback(toServiceError(internal(`${path}: the chain completed without a response`))),
    });
    call.on('cancelled', () => subscription.unsubscribe());
  };
}

/** Serves a server-streaming method from an Observable; the client cancelling unsubscribes. */
export function serverStreamHandler<Req, Res>(
  path: string,
  fn: (request: Req, ctx: Context) => Observable<Res>,
  scheduler: SchedulerLike = asyncScheduler,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    const bad = decodeError(call.request, path);
    if (bad) return void call.emit('error', toServiceError(bad));
    const subscription = defer(() => fn(call.request, callContext(call, scheduler))).subscribe({
      next: (message) => call.write(message),
      error: (e: unknown) => call.emit('error', toServiceError(e)),
      complete: () => call.end(),
    });
    call.on('cancelled', () => subscription.unsubscribe());
  };
}

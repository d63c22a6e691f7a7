import { constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { Metadata } from '../../operators/core/callMetadata.js';
import { isObservable, Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { status } from '../../operators/core/status.js';
import { cancelled, deadlineExceeded, internal, messageOf, NsmError, toNsmError, unavailable } from '../../operators/core/errors.js';
import type { PeerIdentity } from '../../operators/core/peer.js';
import type { MethodDef } from './method.js';
import { ignoreError } from './ignoreError.js';
import { decodeGrpcMessage, lengthPrefixed, MessageReader } from './wire.js';

/** What a call carries besides its messages. */
export interface CallSettings {
  readonly metadata: Metadata;
  /** When the caller stops waiting, in `scheduler` time (sent as `grpc-timeout`). */
  readonly deadline?: number | undefined;
  readonly scheduler: SchedulerLike;
  /** Metadata made once connected, for the server TLS verified (per-call tokens). */
  readonly credentials?: ((peer: PeerIdentity | undefined) => Metadata) | undefined;
  /** The response headers (upstream grpc.Header). */
  readonly onHeaders?: ((headers: Metadata) => void) | undefined;
}

const USER_AGENT = 'nsm-rx';

/** The events a call listens to on its stream besides 'error' and 'close'. */
const CALL_EVENTS = ['response', 'data', 'trailers'] as const;

/** HTTP statuses that are not gRPC answers, as gRPC codes (PROTOCOL-HTTP2.md, "HTTP to gRPC status mapping"). */
const httpStatusCodes: Readonly<Record<number, status>> = {
  400: status.INTERNAL,
  401: status.UNAUTHENTICATED,
  403: status.PERMISSION_DENIED,
  404: status.UNIMPLEMENTED,
  429: status.UNAVAILABLE,
  502: status.UNAVAILABLE,
  503: status.UNAVAILABLE,
  504: status.UNAVAILABLE,
};

/** Calls on a session, counted so that a connection without calls does not keep the process alive. */
const callsOn = new WeakMap<ClientHttp2Session, number>();

function counted(session: ClientHttp2Session): () => void {
  const n = callsOn.get(session) ?? 0;
  callsOn.set(session, n + 1);
  if (n === 0) session.ref();
  return () => {
    const left = (callsOn.get(session) ?? 1) - 1;
    callsOn.set(session, left);
    if (left === 0 && !session.destroyed) session.unref();
  };
}

/**
 * One gRPC call on an HTTP/2 stream as a cold Observable of its answers: subscribing opens the
 * stream once the connection `session()` gives is ready, unsubscribing resets it (CANCEL). The
 * deadline is in the caller's scheduler's time. A unary call's answer is given once its status
 * says OK; a status other than OK is an NsmError with the server's code and message; a stream
 * that ends without status is UNAVAILABLE (the connection went) or INTERNAL.
 */
export function startCall<Req, Res>(
  session: () => ClientHttp2Session | Observable<ClientHttp2Session>,
  method: MethodDef<Req, Res>,
  requests: { one: Req } | { all: Observable<Req> },
  settings: CallSettings,
  channel: { peer(): PeerIdentity | undefined; readonly maxReceiveBytes: number },
): Observable<Res> {
  const { path } = method;
  return new Observable<Res>((subscriber) => {
    let stream: ClientHttp2Stream | undefined;
    let sending: Subscription | undefined;
    let uncount: (() => void) | undefined;
    let done = false;
    const fail = (err: Error): void => {
      if (done) return;
      done = true;
      subscriber.error(err);
    };
    const { deadline: at, scheduler } = settings;
    const left = at === undefined ? undefined : at - scheduler.now();
    if (left !== undefined && left <= 0) {
      fail(deadlineExceeded(`${path}: deadline exceeded before the call started`));
      return;
    }
    const deadline = left === undefined ? undefined : scheduler.schedule(() => fail(deadlineExceeded(`${path}: deadline exceeded`)), left);

    const open = (session: ClientHttp2Session): void => {
      let metadata = settings.metadata;
      if (settings.credentials) {
        try {
          metadata = metadata.clone();
          metadata.merge(settings.credentials(channel.peer()));
        } catch (e) {
          return fail(toNsmError(e));
        }
      }
      try {
        stream = session.request({
          ...metadata.toHttp2Headers(),
          ':method': 'POST',
          ':path': path,
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-accept-encoding': 'identity',
          'user-agent': USER_AGENT,
          ...(at === undefined ? {} : { 'grpc-timeout': `${Math.max(1, Math.ceil(at - scheduler.now()))}m` }),
        });
      } catch (e) {
        // The session closed between ready and now.
        return fail(unavailable(`${path}: the connection closed: ${messageOf(e)}`));
      }
      uncount = counted(session);
      read(stream, session);
      const s = stream;
      const write = (m: Req): Buffer => lengthPrefixed(method.requestSerialize(m));
      if ('one' in requests) s.end(write(requests.one));
      else
        sending = requests.all.subscribe({
          next: (m) => void s.write(write(m)),
          error: (e: unknown) => fail(toNsmError(e)),
          complete: () => void s.end(),
        });
    };

    const read = (s: ClientHttp2Stream, session: ClientHttp2Session): void => {
      const reader = new MessageReader(channel.maxReceiveBytes);
      /** The headers that carry the call's status: trailers, or the headers of a trailers-only or non-gRPC answer. */
      let ending: IncomingHttpHeaders | undefined;
      let answer: { value: Res } | undefined;
      const unary = !method.responseStream;
      s.on('response', (headers) => {
        if (headers['grpc-status'] !== undefined || headers[':status'] !== 200) ending = headers; // trailers-only, or not gRPC
        else settings.onHeaders?.(Metadata.fromHttp2Headers(headers));
      });
      s.on('data', (chunk: Buffer) => {
        if (done) return;
        try {
          for (const bytes of reader.push(chunk)) {
            const message = method.responseDeserialize(bytes);
            if (!unary) subscriber.next(message);
            else if (answer === undefined) answer = { value: message };
            else throw internal(`${path}: the server answered a unary call with more than one message`);
          }
        } catch (e) {
          fail(e instanceof NsmError ? e : internal(`${path}: the answer is not a valid protobuf message: ${messageOf(e)}`));
          s.close(constants.NGHTTP2_CANCEL);
        }
      });
      s.on('trailers', (trailers) => (ending = trailers));
      s.on('error', ignoreError); // 'close' tells
      s.once('close', () => {
        // The closed stream lives on until a full GC (see ignoreError): its listeners must not keep the call.
        for (const event of CALL_EVENTS) s.removeAllListeners(event);
        uncount?.();
        if (done) return;
        const code = ending?.['grpc-status'];
        if (code === undefined) {
          if (ending !== undefined) return fail(new NsmError(httpStatusCodes[Number(ending[':status'])] ?? status.UNKNOWN, `${path}: the server answered HTTP ${ending[':status']}, not gRPC`));
          if (session.destroyed || s.rstCode === constants.NGHTTP2_REFUSED_STREAM || s.rstCode === constants.NGHTTP2_NO_ERROR) return fail(unavailable(`${path}: the connection closed before the call ended`));
          if (s.rstCode === constants.NGHTTP2_CANCEL) return fail(cancelled(`${path}: the server cancelled the call`));
          return fail(internal(`${path}: the stream was reset (HTTP/2 error ${s.rstCode})`));
        }
        const message = decodeGrpcMessage(ending?.['grpc-message']);
        if (code !== '0') return fail(new NsmError(Number(code), message));
        if (unary && answer === undefined) return fail(internal(`${path}: the server ended a unary call without an answer`));
        done = true;
        if (answer !== undefined) subscriber.next(answer.value);
        subscriber.complete();
      });
    };

    const ready = session();
    if (isObservable(ready)) {
      const connecting = ready.subscribe({ next: open, error: (e: unknown) => fail(toNsmError(e)) });
      subscriber.add(connecting);
    } else open(ready);

    return () => {
      deadline?.unsubscribe();
      sending?.unsubscribe();
      if (stream !== undefined && !stream.closed) stream.close(constants.NGHTTP2_CANCEL);
    };
  });
}

import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { Metadata } from '../../operators/core/callMetadata.js';
import type { SchedulerLike, Subscription } from 'rxjs';
import { deadlineExceeded, internal, invalidArgument, messageOf, statusOf } from '../../operators/core/errors.js';
import type { PeerIdentity } from '../../operators/core/peer.js';
import { peerIdentityOf } from '../spiffe/tls.js';
import { ignoreError } from './ignoreError.js';
import type { MethodDef } from './method.js';
import { grpcMessage, lengthPrefixed, MessageReader, timeoutMs } from './wire.js';

/** What a served call is told of the caller's messages. */
export interface RequestListener<Req> {
  message(request: Req): void;
  /** The caller half-closed: no more messages. */
  end(): void;
  /** A message could not be read (malformed, too long, compressed). */
  error(err: Error): void;
}

/** One served call as the handlers see it (the server side of a gRPC call). */
export interface ServedCall<Req, Res> {
  readonly metadata: Metadata;
  /** The caller's address. */
  readonly peer: string;
  /** The caller's SPIFFE identity, when the call came over mutual TLS. */
  readonly identity: PeerIdentity | undefined;
  /** The time the caller gave the call (`grpc-timeout`), in ms from its arrival. */
  readonly timeoutMs: number | undefined;
  /** Messages written that HTTP/2 flow control has not let out yet. */
  readonly pending: number;
  /** Starts delivering the caller's messages. */
  listen(listener: RequestListener<Req>): void;
  /** Response headers ahead of the first message (upstream grpc.SendHeader); once. */
  sendHeaders(metadata?: Metadata): void;
  write(message: Res): void;
  /** Ends the call with OK. */
  end(): void;
  /** Ends the call with `err`'s status code and message, never its stack. */
  fail(err: unknown): void;
  /**
   * `cancelled` runs if the call is cut before it ended: the caller went away (RST_STREAM,
   * connection lost) or its deadline passed (the caller is told DEADLINE_EXCEEDED).
   */
  onCancel(cancelled: () => void): void;
}

/** Each HTTP/2 session's caller: a connection's certificate cannot change, so it is read once. */
const sessionIdentities = new WeakMap<object, PeerIdentity | undefined>();

function identityOf(stream: ServerHttp2Stream): PeerIdentity | undefined {
  const session = stream.session;
  if (session === undefined) return undefined;
  if (sessionIdentities.has(session)) return sessionIdentities.get(session);
  const socket = session.socket as Partial<TLSSocket>;
  const identity = typeof socket.getPeerCertificate === 'function' ? peerIdentityOf(socket.getPeerCertificate()) : undefined;
  sessionIdentities.set(session, identity);
  return identity;
}

function peerOf(stream: ServerHttp2Stream): string {
  const socket = stream.session?.socket;
  if (!socket?.remoteAddress) return 'unknown';
  return socket.remotePort ? `${socket.remoteAddress}:${socket.remotePort}` : socket.remoteAddress;
}

const responseHeaders = { ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': 'identity' };

/** Headers that are the transport's, not the caller's metadata (grpc-js and grpc-go drop them too). */
const transportHeaders = ['grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding', 'accept-encoding', 'te', 'content-type'];

/** The trailers that end a call with `err`'s status code and message, never its stack. */
const failure = (err: unknown) => ({ 'grpc-status': String(statusOf(err)), 'grpc-message': grpcMessage(messageOf(err)) });

/** Answers a stream with status alone (trailers-only), before any call was made of it. */
export function refuse(stream: ServerHttp2Stream, err: unknown): void {
  stream.on('error', ignoreError);
  stream.respond({ ...responseHeaders, ...failure(err) }, { endStream: true });
}

/** The events a served call listens to on its stream besides 'error' and 'close'. */
const CALL_EVENTS = ['data', 'end', 'wantTrailers'] as const;

/** A gRPC call served on one HTTP/2 stream. */
export class Http2ServedCall<Req, Res> implements ServedCall<Req, Res> {
  readonly metadata: Metadata;
  readonly timeoutMs: number | undefined;
  private headersSent = false;
  private finished = false;
  private written = 0;
  private flushed = 0;
  private cancelled: (() => void) | undefined;
  private readonly deadline: Subscription | undefined;

  constructor(
    private readonly stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    private readonly method: MethodDef<Req, Res>,
    private readonly maxReceive: number,
    scheduler: SchedulerLike,
  ) {
    this.metadata = Metadata.fromHttp2Headers(headers);
    for (const key of transportHeaders) this.metadata.remove(key);
    this.timeoutMs = timeoutMs(headers['grpc-timeout']);
    // As grpc-go and grpc-js servers do: the caller has stopped waiting, so the chain stops too.
    if (this.timeoutMs !== undefined) this.deadline = scheduler.schedule(() => this.cut(deadlineExceeded(`${method.path}: deadline exceeded`)), this.timeoutMs);
    // A reset stream reports an error; the call learns of it through 'close'.
    stream.on('error', ignoreError);
    stream.once('close', () => {
      // The closed stream lives on until a full GC (see ignoreError): its listeners must not keep the call.
      for (const event of CALL_EVENTS) stream.removeAllListeners(event);
      this.cut();
    });
  }

  /** Ends the call from outside its handler (telling the caller `why`, if it still listens) and cancels the handler. */
  private cut(why?: Error): void {
    if (this.finished) return;
    if (why) this.fail(why);
    this.finished = true;
    this.deadline?.unsubscribe();
    this.cancelled?.();
  }

  get peer(): string {
    return peerOf(this.stream);
  }

  get identity(): PeerIdentity | undefined {
    return identityOf(this.stream);
  }

  get pending(): number {
    return this.written - this.flushed;
  }

  listen(listener: RequestListener<Req>): void {
    const reader = new MessageReader(this.maxReceive);
    const { path } = this.method;
    const onData = (chunk: Buffer) => {
      let messages: Buffer[];
      try {
        messages = reader.push(chunk);
      } catch (e) {
        return this.stopReading(listener, e as Error);
      }
      for (const bytes of messages) {
        let request: Req;
        try {
          request = this.method.requestDeserialize(bytes);
        } catch (e) {
          return this.stopReading(listener, invalidArgument(`${path}: request is not a valid protobuf message: ${messageOf(e)}`));
        }
        listener.message(request);
      }
    };
    this.stream.on('data', onData);
    this.stream.once('end', () => listener.end());
  }

  /** Drops what else the caller sends, so the stream can still end. */
  private stopReading(listener: RequestListener<Req>, err: Error): void {
    this.stream.removeAllListeners('data').removeAllListeners('end').resume();
    listener.error(err);
  }

  sendHeaders(metadata?: Metadata): void {
    if (this.headersSent || this.finished || this.stream.closed) return;
    this.headersSent = true;
    this.stream.respond(metadata ? { ...responseHeaders, ...metadata.toHttp2Headers() } : responseHeaders, { waitForTrailers: true });
  }

  write(message: Res): void {
    if (this.finished || this.stream.closed) return;
    let bytes: Uint8Array;
    try {
      bytes = this.method.responseSerialize(message);
    } catch (e) {
      // A chain answered something its protobuf cannot hold: our fault, not the caller's.
      return this.cut(internal(`${this.method.path}: the answer does not encode: ${messageOf(e)}`));
    }
    this.sendHeaders();
    this.written++;
    this.stream.write(lengthPrefixed(bytes), () => this.flushed++);
  }

  end(): void {
    this.finish({ 'grpc-status': '0' });
  }

  fail(err: unknown): void {
    this.finish(failure(err));
  }

  onCancel(cancelled: () => void): void {
    this.cancelled = cancelled;
  }

  private finish(trailers: Record<string, string>): void {
    if (this.finished) return;
    this.finished = true;
    this.deadline?.unsubscribe();
    if (this.stream.closed || this.stream.destroyed) return;
    if (!this.headersSent) {
      // Trailers-only: nothing was sent yet, so status goes with the headers.
      this.headersSent = true;
      this.stream.respond({ ...responseHeaders, ...trailers }, { endStream: true });
      return;
    }
    this.stream.once('wantTrailers', () => this.stream.sendTrailers(trailers));
    this.stream.end();
  }
}

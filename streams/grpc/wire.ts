import { resourceExhausted, unimplemented } from '../../operators/core/errors.js';

/**
 * gRPC's framing on HTTP/2 (PROTOCOL-HTTP2.md): each message is a compressed-flag byte, a
 * 4-byte big-endian length and the bytes; status travels as `grpc-status`/`grpc-message`.
 */
const PREFIX = 5;

/** `message` as one length-prefixed, uncompressed gRPC message. */
export function lengthPrefixed(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(PREFIX + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, PREFIX);
  return framed;
}

/**
 * Cuts HTTP/2 DATA chunks into whole gRPC messages, however the chunks split them. A message
 * longer than `maxLength` is RESOURCE_EXHAUSTED and a compressed one UNIMPLEMENTED: this side
 * announces `grpc-accept-encoding: identity`, so a peer that compresses anyway broke the protocol.
 */
export class MessageReader {
  /** Chunks not yet cut into messages: kept apart until a message is whole, so a message of many chunks is copied once. */
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxLength: number) {}

  /** The messages `chunk` completes, in order. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const messages: Buffer[] = [];
    while (this.buffered >= PREFIX) {
      // A prefix cut between chunks (rare: chunks are kilobytes) is joined to be read.
      if ((this.chunks[0]?.length ?? 0) < PREFIX) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
      const head = this.chunks[0] as Buffer;
      const length = head.readUInt32BE(1);
      if (head[0] !== 0) throw unimplemented('compressed messages are not accepted (grpc-accept-encoding: identity)');
      if (length > this.maxLength) throw resourceExhausted(`a message of ${length} bytes is over the limit of ${this.maxLength}`);
      if (this.buffered < PREFIX + length) break;
      const data = this.chunks.length === 1 ? head : Buffer.concat(this.chunks, this.buffered);
      messages.push(data.subarray(PREFIX, PREFIX + length));
      const rest = data.subarray(PREFIX + length);
      this.chunks = rest.length === 0 ? [] : [rest];
      this.buffered = rest.length;
    }
    return messages;
  }
}

/** `grpc-timeout` (at most 8 digits and a unit) in milliseconds; undefined when absent or malformed. */
export function timeoutMs(header: string | string[] | undefined): number | undefined {
  const m = typeof header === 'string' ? /^(\d{1,8})([HMSmun])$/.exec(header) : null;
  if (m === null) return undefined;
  const perUnit = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 }[m[2] as 'H' | 'M' | 'S' | 'm' | 'u' | 'n'];
  return Number(m[1]) * perUnit;
}

/** A status message as `grpc-message` carries it: UTF-8, percent-encoding '%' and every byte outside printable ASCII. */
export function grpcMessage(message: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  let encoded = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    encoded += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}

/** A `grpc-message` as sent: percent-decoded; a malformed one as it came. */
export function decodeGrpcMessage(header: string | string[] | undefined): string {
  const message = Array.isArray(header) ? header.join(',') : (header ?? '');
  try {
    return decodeURIComponent(message);
  } catch {
    return message;
  }
}

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';

/** A metadata value: text, or bytes under a key ending in `-bin`. */
export type MetadataValue = string | Buffer;

const binary = (key: string): boolean => key.endsWith('-bin');

/** Header names HTTP/2 allows as gRPC custom metadata (lower case; no pseudo-headers). */
const validKey = /^[0-9a-z_.-]+$/;

/**
 * gRPC metadata: the custom headers of a call, each key with its values in order. Keys are
 * lower case; values of `-bin` keys are bytes, base64 on the wire (PROTOCOL-HTTP2.md).
 */
export class Metadata {
  private readonly entries = new Map<string, MetadataValue[]>();

  /** Sets `key` to `value` alone. @throws naming the key when it is not a valid metadata key or the value's kind does not fit it. */
  set(key: string, value: MetadataValue): void {
    this.entries.set(checked(key, value), [value]);
  }

  /** Adds `value` after the key's others. */
  add(key: string, value: MetadataValue): void {
    const k = checked(key, value);
    const values = this.entries.get(k);
    if (values) values.push(value);
    else this.entries.set(k, [value]);
  }

  /** The key's values, in order; [] when absent. */
  get(key: string): MetadataValue[] {
    return this.entries.get(key.toLowerCase()) ?? [];
  }

  remove(key: string): void {
    this.entries.delete(key.toLowerCase());
  }

  clone(): Metadata {
    const copy = new Metadata();
    for (const [k, values] of this.entries) copy.entries.set(k, [...values]);
    return copy;
  }

  /** Adds every value of `other` after this one's. */
  merge(other: Metadata): void {
    for (const [k, values] of other.entries) for (const v of values) this.add(k, v);
  }

  /** As HTTP/2 headers: one field per value; bytes in base64. */
  toHttp2Headers(): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = {};
    for (const [k, values] of this.entries) headers[k] = values.map((v) => (typeof v === 'string' ? v : v.toString('base64')));
    return headers;
  }

  /** The metadata of received headers: every header but the pseudo-headers; `-bin` values decoded. */
  static fromHttp2Headers(headers: IncomingHttpHeaders): Metadata {
    const md = new Metadata();
    for (const [k, raw] of Object.entries(headers)) {
      if (k.startsWith(':') || raw === undefined) continue;
      const fields = Array.isArray(raw) ? raw : [raw];
      // Several `-bin` values may come as one field, comma-separated (base64 has no comma).
      md.entries.set(k, binary(k) ? fields.flatMap((f) => f.split(',').map((part) => Buffer.from(part.trim(), 'base64'))) : fields);
    }
    return md;
  }
}

function checked(key: string, value: MetadataValue): string {
  const k = key.toLowerCase();
  if (!validKey.test(k)) throw new Error(`metadata key ${JSON.stringify(key)}: only 0-9 a-z _ . - are allowed`);
  if (binary(k) !== Buffer.isBuffer(value)) throw new Error(`metadata key ${JSON.stringify(key)}: ${binary(k) ? 'a -bin key takes bytes' : 'takes text (bytes go under a key ending in -bin)'}`);
  return k;
}

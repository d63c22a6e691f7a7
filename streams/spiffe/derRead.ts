/** Just enough DER reading: split certificate lists, copy a certificate's subject into what it signs. */

interface Element {
  readonly tag: number;
  /** The whole element, header included. */
  readonly raw: Buffer;
  readonly body: Buffer;
}

function element(buf: Buffer, at: number): Element {
  const tag = buf[at];
  const first = buf[at + 1];
  if (tag === undefined || first === undefined) throw new Error('DER: truncated element');
  let len = first;
  let header = 2;
  if (first & 0x80) {
    const n = first & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[at + 2 + i] ?? 0);
    header += n;
  }
  const end = at + header + len;
  if (end > buf.length) throw new Error('DER: element runs past the end');
  return { tag, raw: buf.subarray(at, end), body: buf.subarray(at + header, end) };
}

function children(body: Buffer): Element[] {
  const out: Element[] = [];
  for (let at = 0; at < body.length; ) {
    const e = element(body, at);
    out.push(e);
    at += e.raw.length;
  }
  return out;
}

/** The whole elements (header included) one after another in `buf`, e.g. a list of certificates. */
export const derElements = (buf: Buffer): Buffer[] => children(buf).map((e) => e.raw);

/** The DER of a certificate's subject Name. */
export function subjectDer(certDer: Buffer): Buffer {
  const [tbs] = children(element(certDer, 0).body);
  if (tbs === undefined) throw new Error('DER: certificate has no TBSCertificate');
  const fields = children(tbs.body);
  // version [0] is optional: serial, signature, issuer, validity, subject follow it.
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[offset + 4];
  if (subject === undefined) throw new Error('DER: TBSCertificate has no subject');
  return subject.raw;
}

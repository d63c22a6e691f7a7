import { createHash, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { bitString, boolean, explicit, implicitPrimitive, nullValue, octetString, oid, sequence, set, smallInteger, time, unsignedInteger, utf8String } from './der.js';
import { subjectDer } from './derRead.js';
import { parseSpiffeId } from './spiffeId.js';

/** A certificate with its private key: a CA, or an X.509-SVID. */
export interface IssuedCertificate {
  readonly cert: X509Certificate;
  readonly key: KeyObject;
}

/** The signature algorithm of a signing key: ECDSA (SPIFFE's default) or RSA PKCS#1 v1.5 (parameters NULL), over SHA-256. */
const signatureAlgorithm = (key: KeyObject): Buffer =>
  key.asymmetricKeyType === 'rsa' ? sequence(oid('1.2.840.113549.1.1.11'), nullValue) : sequence(oid('1.2.840.10045.4.3.2'));

const distinguishedName = (commonName: string): Buffer =>
  sequence(set(sequence(oid('2.5.4.10'), utf8String('nsm-rx'))), set(sequence(oid('2.5.4.3'), utf8String(commonName))));

const extension = (id: string, critical: boolean, value: Buffer): Buffer =>
  sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));

/** KeyUsage as a DER BIT STRING: bit 0 digitalSignature, 5 keyCertSign, 6 cRLSign. */
function keyUsage(bits: readonly number[]): Buffer {
  let value = 0;
  for (const bit of bits) value |= 0x80 >> bit;
  return Buffer.from([0x03, 0x02, 7 - Math.max(...bits), value]);
}

const keyId = (key: KeyObject): Buffer => createHash('sha1').update(key.export({ type: 'spki', format: 'der' })).digest();

interface Fields {
  readonly subject: Buffer;
  readonly issuer: Buffer;
  readonly publicKey: KeyObject;
  readonly signer: IssuedCertificate | undefined;
  readonly signingKey: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** subjectAltName's GeneralNames (`uriName`, `dnsName`, `ipAddress`). */
  readonly altNames: readonly Buffer[];
}

/** GeneralName entries of a subjectAltName. */
export const uriName = (uri: string): Buffer => implicitPrimitive(6, Buffer.from(uri, 'ascii'));
export const dnsName = (name: string): Buffer => implicitPrimitive(2, Buffer.from(name, 'ascii'));
export const ipAddress = (ip: string): Buffer => implicitPrimitive(7, ip.includes(':') ? ipv6Bytes(ip) : Buffer.from(ip.split('.').map(Number)));

function ipv6Bytes(ip: string): Buffer {
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const groups = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return Buffer.from(all.flatMap((g) => [g >> 8, g & 0xff]));
}

function certificate(f: Fields): X509Certificate {
  const isCa = f.signer === undefined;
  const extensions = [
    extension('2.5.29.19', true, isCa ? sequence(boolean(true)) : sequence()),
    extension('2.5.29.15', true, isCa ? keyUsage([5, 6]) : keyUsage([0])),
    ...(isCa ? [] : [extension('2.5.29.37', false, sequence(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2')))]),
    extension('2.5.29.17', !isCa, sequence(...f.altNames)),
    extension('2.5.29.14', false, octetString(keyId(f.publicKey))),
    extension('2.5.29.35', false, sequence(implicitPrimitive(0, keyId(f.signer?.cert.publicKey ?? f.publicKey)))),
  ];
  const algorithm = signatureAlgorithm(f.signingKey);
  const tbs = sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(Buffer.concat([Buffer.from([0x01]), randomBytes(15)])),
    algorithm,
    f.issuer,
    sequence(time(f.notBefore), time(f.notAfter)),
    f.subject,
    f.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, sequence(...extensions)),
  );
  const signature = sign('sha256', tbs, { key: f.signingKey, dsaEncoding: 'der' });
  return new X509Certificate(sequence(tbs, algorithm, bitString(signature)));
}

/** A fresh EC P-256 key (what SPIRE issues by default; ES256 tokens need it). */
export const newKey = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;

/** A fresh RSA-2048 key (what upstream's admission webhook makes its certificate with). */
export const newRsaKey = (): KeyObject => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

/** Certificates start a minute early: peers' clocks differ a little. */
const skewMs = 60_000;

/** A self-signed CA for `trustDomain` (URI SAN `spiffe://<td>`), valid `ttlMs` from `now`. */
export function createCa(trustDomain: string, now: Date, ttlMs: number, key: KeyObject = newKey()): IssuedCertificate {
  const id = parseSpiffeId(`spiffe://${trustDomain}`);
  const subject = distinguishedName(`${id.trustDomain} CA`);
  const cert = certificate({
    subject,
    issuer: subject,
    publicKey: createPublicKey(key),
    signer: undefined,
    signingKey: key,
    notBefore: new Date(now.getTime() - skewMs),
    notAfter: new Date(now.getTime() + ttlMs),
    altNames: [uriName(id.href)],
  });
  return { cert, key };
}

/**
 * An X.509-SVID for `spiffeId` signed by `ca`: URI SAN = the ID, digitalSignature, server and
 * client auth, valid until `now + ttlMs` (never past the CA). Passing the previous `key` rotates
 * the certificate but keeps the key, so tokens signed before a rotation still verify.
 */
export function issueSvid(ca: IssuedCertificate, spiffeId: string, now: Date, ttlMs: number, key: KeyObject = newKey()): IssuedCertificate {
  const id = parseSpiffeId(spiffeId);
  if (id.path === '') throw new Error(`${spiffeId} names a trust domain, not a workload`);
  return issueServerCertificate(ca, id.path.slice(1), [uriName(id.href)], now, ttlMs, key);
}

/** A leaf certificate for `altNames` (uriName, dnsName, ipAddress) signed by `ca`, for server and client auth, valid until `now + ttlMs` (never past the CA): an SVID, or an admission webhook's serving certificate. */
export function issueServerCertificate(ca: IssuedCertificate, commonName: string, altNames: readonly Buffer[], now: Date, ttlMs: number, key: KeyObject = newKey()): IssuedCertificate {
  const cert = certificate({
    subject: distinguishedName(commonName),
    issuer: subjectDer(ca.cert.raw),
    publicKey: createPublicKey(key),
    signer: ca,
    signingKey: ca.key,
    notBefore: new Date(now.getTime() - skewMs),
    notAfter: new Date(Math.min(now.getTime() + ttlMs, Date.parse(ca.cert.validTo))),
    altNames,
  });
  return { cert, key };
}

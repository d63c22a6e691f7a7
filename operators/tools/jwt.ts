import { sign, verify, type KeyObject } from 'node:crypto';

/** The claims NSM path tokens carry (upstream spiffejwt: jwt.RegisteredClaims). */
export interface TokenClaims {
  readonly sub?: string;
  readonly aud?: readonly string[];
  /** Seconds since the epoch. */
  readonly exp?: number;
}

/** A decoded JWT: its parts as sent (signature checks need the exact bytes). */
export interface DecodedJwt {
  readonly header: { readonly alg?: unknown; readonly typ?: unknown };
  readonly claims: TokenClaims;
  readonly signingInput: string;
  readonly signature: Uint8Array;
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs claims as an ES256 JWT with an EC P-256 key (raw r‖s signature, RFC 7518 §3.4). */
export function signEs256(claims: TokenClaims, key: KeyObject): string {
  const input = `${b64({ alg: 'ES256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

const base64url = /^[A-Za-z0-9_-]*$/;

function json(part: string, what: string): Record<string, unknown> {
  const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`the ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** Normalises `aud` (a string or a list of strings) as RFC 7519 allows both. */
function audience(aud: unknown): string[] | undefined {
  if (aud === undefined) return undefined;
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) return aud;
  throw new Error('aud is neither a string nor a list of strings');
}

/** Decodes a compact JWT without checking its signature; throws naming what is malformed. */
export function decodeJwt(token: string): DecodedJwt {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`a JWT has 3 dot-separated parts, this one has ${parts.length}`);
  const [h = '', p = '', s = ''] = parts;
  if (!base64url.test(h) || !base64url.test(p) || !base64url.test(s)) throw new Error('a JWT part is not base64url');
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    header = json(h, 'header');
    payload = json(p, 'payload');
  } catch (e) {
    throw new Error(`the JWT does not decode: ${e instanceof Error ? e.message : String(e)}`);
  }
  const { sub, exp } = payload;
  if (sub !== undefined && typeof sub !== 'string') throw new Error('sub is not a string');
  if (exp !== undefined && (typeof exp !== 'number' || !Number.isFinite(exp))) throw new Error('exp is not a number');
  const aud = audience(payload['aud']);
  return {
    header,
    claims: { ...(sub !== undefined ? { sub } : {}), ...(aud !== undefined ? { aud } : {}), ...(exp !== undefined ? { exp } : {}) },
    signingInput: `${h}.${p}`,
    // a copy of its own: a small Buffer is a view of an 8 KiB pool slab, which it would keep alive for as long as the token is cached
    signature: new Uint8Array(Buffer.from(s, 'base64url')),
  };
}

/** Whether an ES256 JWT was signed by the holder of `publicKey`. */
export function verifyEs256(jwt: DecodedJwt, publicKey: KeyObject): boolean {
  if (jwt.header.alg !== 'ES256' || jwt.signature.length !== 64) return false;
  try {
    return verify('sha256', Buffer.from(jwt.signingInput), { key: publicKey, dsaEncoding: 'ieee-p1363' }, jwt.signature);
  } catch {
    return false;
  }
}

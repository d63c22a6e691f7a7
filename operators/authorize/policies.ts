import type { PeerIdentity } from '../core/peer.js';
import { decodeJwt, verifyEs256, type DecodedJwt } from '../tools/jwt.js';
import { RecentlyUsed } from '../tools/recentlyUsed.js';

/** A path segment as the policies see it (NetworkService and registry paths alike). */
export interface SegmentInput {
  readonly name: string;
  readonly id: string;
  readonly token: string;
}

/** The input of the path policies (upstream's OPA input: path + the TLS peer). */
export interface PathInput {
  readonly segments: readonly SegmentInput[];
  readonly index: number;
  /** The other side of the call as TLS proved it: the caller (server side) or the server (client side). */
  readonly peer: PeerIdentity | undefined;
  /** Now, ms since the epoch (scheduler time). */
  readonly now: number;
}

/** A policy: undefined when allowed, else why not. */
export type PathPolicy = (input: PathInput) => string | undefined;

/**
 * Tokens decoded lately: a path's tokens are read by several policies, at every hop. Bounded by
 * what is in flight (a few tokens a Request, `NSM_MAX_REQUESTS_IN_FLIGHT` Requests), not by time:
 * every refresh brings new tokens, and a map cleared only when full held thousands of dead ones
 * (the soak's nsmgrs and forwarders grew some 25 MiB an hour until it was cleared).
 */
export const decodedTokens = new RecentlyUsed<string, DecodedJwt | string>(1024);

function decoded(segment: SegmentInput | undefined, what: string): DecodedJwt | string {
  if (segment === undefined) return `there is no ${what} path segment`;
  const known = decodedTokens.get(segment.token);
  if (known !== undefined) return typeof known === 'string' ? `the token of path segment "${segment.name}" is malformed: ${known}` : known;
  let result: DecodedJwt | string;
  try {
    result = decodeJwt(segment.token);
  } catch (e) {
    result = e instanceof Error ? e.message : String(e);
  }
  if (segment.token.length <= 8192) decodedTokens.set(segment.token, result);
  return typeof result === 'string' ? `the token of path segment "${segment.name}" is malformed: ${result}` : result;
}

/**
 * Upstream feeds the policies the path as JSON with `omitempty`: an empty path has no
 * `path_segments` at all, and every common policy counts them, so each refuses it.
 */
const noSegments = (segments: readonly SegmentInput[]): string | undefined => (segments.length === 0 ? 'the path has no segments' : undefined);

/** tokens_valid: the path has segments and every token decodes as a JWT. */
export const tokensValid: PathPolicy = ({ segments }) => {
  for (const s of segments) {
    const jwt = decoded(s, 'such');
    if (typeof jwt === 'string') return jwt;
  }
  return noSegments(segments);
};

/** tokens_expired: the path has segments and every token has an `exp` after now (one without `exp` fails, as upstream's). */
export const tokensExpired: PathPolicy = ({ segments, now }) => {
  for (const s of segments) {
    const jwt = decoded(s, 'such');
    if (typeof jwt === 'string') return jwt;
    const exp = jwt.claims.exp;
    if (exp === undefined) return `the token of path segment "${s.name}" has no exp`;
    if (exp * 1000 <= now) return `the token of path segment "${s.name}" expired at ${new Date(exp * 1000).toISOString()}`;
  }
  return noSegments(segments);
};

/**
 * tokens_chained: the path has segments, and each token's audience is the subject of the next
 * one (who called whom). Upstream's rule compares every audience entry with that subject and
 * fails on any mismatch (a rego conflict), so an audience naming anyone else fails here too.
 */
export const tokensChained: PathPolicy = ({ segments }) => {
  for (let i = 0; i + 1 < segments.length; i++) {
    const a = decoded(segments[i], 'such');
    const b = decoded(segments[i + 1], 'such');
    if (typeof a === 'string') return a;
    if (typeof b === 'string') return b;
    const sub = b.claims.sub;
    const aud = a.claims.aud ?? [];
    if (sub === undefined || aud.length === 0 || aud.some((name) => name !== sub)) {
      return `tokens are not chained: segment "${segments[i]?.name}" names audience [${aud.join(', ')}], the next segment's subject is ${sub ?? '(none)'}`;
    }
  }
  return noSegments(segments);
};

/**
 * Signatures checked lately, per decoded token (decodedTokens keeps one object per token) and
 * key: a token is reused for many calls within its reuse window, and a signature that verified
 * once always will.
 */
const verifiedBy = new WeakMap<DecodedJwt, WeakMap<object, boolean>>();

function verifiedOnce(jwt: DecodedJwt, peer: PeerIdentity): boolean {
  let byKey = verifiedBy.get(jwt);
  if (byKey === undefined) verifiedBy.set(jwt, (byKey = new WeakMap()));
  let ok = byKey.get(peer.publicKey);
  if (ok === undefined) byKey.set(peer.publicKey, (ok = verifyEs256(jwt, peer.publicKey)));
  return ok;
}

function signedBy(segment: SegmentInput | undefined, peer: PeerIdentity | undefined, what: string): string | undefined {
  if (segment === undefined) return `there is no ${what} path segment`;
  if (peer === undefined) return `no TLS peer certificate to verify the ${what} token with`;
  const jwt = decoded(segment, what);
  if (typeof jwt === 'string') return jwt;
  return verifiedOnce(jwt, peer) ? undefined : `the ${what} token (segment "${segment.name}") is not signed by the peer ${peer.id}`;
}

/**
 * prev_token_signed (server side): the segment before this hop's exists and its token was signed
 * by the caller we see over TLS (so a hop at index 0, with no caller segment, is refused).
 */
export const prevTokenSigned: PathPolicy = ({ segments, index, peer }) => signedBy(index >= 1 ? segments[index - 1] : undefined, peer, 'previous');

/** next_token_signed (client side): the segment after ours exists and the server we see over TLS signed its token. */
export const nextTokenSigned: PathPolicy = ({ segments, index, peer }) => signedBy(index >= 0 ? segments[index + 1] : undefined, peer, 'next');

/** The policies by upstream's file names under etc/nsm/opa (what NSM_*_POLICIES name). */
export const pathPolicies: Readonly<Record<string, PathPolicy>> = {
  'etc/nsm/opa/common/tokens_valid.rego': tokensValid,
  'etc/nsm/opa/common/tokens_chained.rego': tokensChained,
  'etc/nsm/opa/common/tokens_expired.rego': tokensExpired,
  'etc/nsm/opa/server/prev_token_signed.rego': prevTokenSigned,
  'etc/nsm/opa/client/next_token_signed.rego': nextTokenSigned,
};

/** The registry's own policy and the monitor's (different inputs, named the same way). */
export const registryClientAllowed = 'etc/nsm/opa/registry/client_allowed.rego';
export const monitorServiceConnection = 'etc/nsm/opa/monitor/service_connection.rego';

export const knownPolicyFiles: readonly string[] = [...Object.keys(pathPolicies), registryClientAllowed, monitorServiceConnection];

/**
 * The policy files a policy list names. Entries are patterns over upstream's policy paths, as
 * upstream's defaults (`etc/nsm/opa/common/.*.rego`) are; each must name at least one policy.
 * Throws naming the entry that names none.
 */
export function resolvePolicies(entries: readonly string[]): string[] {
  const chosen = new Set<string>();
  for (const entry of entries) {
    let pattern: RegExp;
    try {
      pattern = new RegExp(`^${entry}$`);
    } catch {
      throw new Error(`"${entry}" is not a valid policy path pattern`);
    }
    const hits = knownPolicyFiles.filter((f) => pattern.test(f));
    if (hits.length === 0) throw new Error(`"${entry}" names no policy (known: ${knownPolicyFiles.join(', ')})`);
    for (const h of hits) chosen.add(h);
  }
  return [...chosen];
}

/** Runs the path policies among `files` in order; the first refusal wins. */
export function checkPath(files: readonly string[], input: PathInput): string | undefined {
  for (const f of files) {
    const policy = pathPolicies[f];
    const why = policy?.(input);
    if (why !== undefined) return `${f.replace(/^.*\//, '').replace(/\.rego$/, '')}: ${why}`;
  }
  return undefined;
}

/** Upstream's default lists (cmd-* NSM_REGISTRY_SERVER_POLICIES, and the NetworkService server chains). */
export const defaultServerPolicies = 'etc/nsm/opa/common/.*.rego,etc/nsm/opa/server/.*.rego';
export const defaultRegistryServerPolicies = 'etc/nsm/opa/common/.*.rego,etc/nsm/opa/registry/.*.rego,etc/nsm/opa/server/.*.rego';

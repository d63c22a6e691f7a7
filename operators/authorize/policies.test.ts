import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { PeerIdentity } from '../core/peer.js';
import { signEs256 } from '../tools/jwt.js';
import { checkPath, decodedTokens, nextTokenSigned, pathPolicies, prevTokenSigned, resolvePolicies, tokensChained, tokensExpired, tokensValid, type PathInput } from './policies.js';

const key = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
const nsc = { id: 'spiffe://nsm.local/nsc', key: key() };
const nsmgr = { id: 'spiffe://nsm.local/nsmgr', key: key() };
const peer = (w: typeof nsc): PeerIdentity => ({ id: w.id, publicKey: createPublicKey(w.key) });
const now = 1_700_000_000_000;
const token = (from: typeof nsc, to: string | undefined, expSeconds = now / 1000 + 60) => signEs256({ sub: from.id, ...(to ? { aud: [to] } : {}), exp: expSeconds }, from.key);
const input = (tokens: string[], index: number, p: PeerIdentity | undefined): PathInput => ({
  segments: tokens.map((t, i) => ({ name: `hop-${i}`, id: `id-${i}`, token: t })),
  index,
  peer: p,
  now,
});

describe('path policies', () => {
  const good = [token(nsc, nsmgr.id), token(nsmgr, nsc.id)];

  it('allow a chained, unexpired path signed by the hops TLS saw', () => {
    expect(checkPath(Object.keys(pathPolicies).filter((p) => !p.includes('next_token')), input(good, 1, peer(nsc)))).toBeUndefined();
    expect(nextTokenSigned(input(good, 0, peer(nsmgr)))).toBeUndefined();
  });

  it('tokens_valid refuses a malformed token', () => {
    for (const bad of ['', 'abc', 'a.b', 'a.b.c.d', '!!.e30.', `${Buffer.from('[1]').toString('base64url')}.e30.`, 'e30.eyJzdWIiOjF9.']) {
      expect(tokensValid(input([bad], 0, undefined))).toMatch(/malformed/);
    }
  });

  it('tokens_expired refuses a token past its exp, and one without exp (upstream compares now with exp)', () => {
    expect(tokensExpired(input([token(nsc, nsmgr.id, now / 1000 - 1)], 0, undefined))).toMatch(/expired at/);
    expect(tokensExpired(input([token(nsc, nsmgr.id, now / 1000 + 0.5)], 0, undefined))).toBeUndefined();
    expect(tokensExpired(input([signEs256({ sub: nsc.id, aud: [nsmgr.id] }, nsc.key)], 0, undefined))).toMatch(/has no exp/);
  });

  it('an empty path passes none of the common policies (upstream omits path_segments, and each counts them); one segment is chained', () => {
    for (const policy of [tokensValid, tokensExpired, tokensChained]) expect(policy(input([], 0, undefined))).toBe('the path has no segments');
    expect(tokensChained(input(good.slice(0, 1), 0, undefined))).toBeUndefined();
  });

  it('tokens_chained refuses a token whose audience is not the next hop', () => {
    expect(tokensChained(input([token(nsc, 'spiffe://nsm.local/someone-else'), token(nsmgr, nsc.id)], 1, undefined))).toMatch(/not chained/);
    expect(tokensChained(input([token(nsc, undefined), token(nsmgr, nsc.id)], 1, undefined))).toMatch(/not chained/);
    // Upstream's rule fails on any audience entry that is not the next subject.
    const twoAudiences = signEs256({ sub: nsc.id, aud: [nsmgr.id, 'spiffe://nsm.local/other'], exp: now / 1000 + 60 }, nsc.key);
    expect(tokensChained(input([twoAudiences, token(nsmgr, nsc.id)], 1, undefined))).toMatch(/not chained/);
  });

  it('prev_token_signed refuses a tampered token, one signed by another key, or no TLS peer', () => {
    const [t0 = ''] = good;
    const [h, , s] = t0.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ sub: nsc.id, aud: [nsmgr.id], exp: now / 1000 + 3600 })).toString('base64url')}.${s}`;
    expect(prevTokenSigned(input([forged, ''], 1, peer(nsc)))).toMatch(/not signed by the peer/);
    expect(prevTokenSigned(input([token({ id: nsc.id, key: key() }, nsmgr.id), ''], 1, peer(nsc)))).toMatch(/not signed by the peer/);
    expect(prevTokenSigned(input(good, 1, undefined))).toMatch(/no TLS peer certificate/);
  });

  it('as upstream: prev_token_signed needs a previous segment and next_token_signed a next one, whoever the peer is', () => {
    expect(prevTokenSigned(input(good.slice(0, 1), 0, peer(nsc)))).toMatch(/there is no previous path segment/);
    expect(nextTokenSigned(input(good.slice(0, 1), 0, peer(nsmgr)))).toMatch(/there is no next path segment/);
    expect(nextTokenSigned(input(good, 0, undefined))).toMatch(/no TLS peer certificate/);
  });

  it('a signature remembered as verified counts for that key only: the same token from another TLS peer is refused, again and again', () => {
    const nscPeer = peer(nsc);
    const impostor: PeerIdentity = { id: nsc.id, publicKey: createPublicKey(key()) };
    for (let i = 0; i < 3; i++) {
      expect(prevTokenSigned(input(good, 1, nscPeer))).toBeUndefined();
      expect(prevTokenSigned(input(good, 1, impostor))).toMatch(/not signed by the peer/);
    }
  });

  it('decoded tokens are kept for the Requests in flight only, each signature in memory of its own (soak regression: a map cleared only when full held thousands of re-signed tokens, each keeping an 8 KiB Buffer pool slab alive)', () => {
    const many = Array.from({ length: decodedTokens.capacity + 100 }, (_, i) => token(nsc, nsmgr.id, now / 1000 + 60 + i));
    for (const t of many) expect(tokensValid(input([t], 0, undefined))).toBeUndefined();
    expect(decodedTokens.size).toBe(decodedTokens.capacity);
    expect(decodedTokens.get(many[0]!)).toBeUndefined();
    const last = decodedTokens.get(many.at(-1)!);
    expect(typeof last === 'object' && last.signature.buffer.byteLength).toBe(64);
  });

  it('resolvePolicies reads upstream policy path patterns and names a pattern that matches nothing', () => {
    expect(resolvePolicies(['etc/nsm/opa/common/.*.rego', 'etc/nsm/opa/server/.*.rego'])).toEqual([
      'etc/nsm/opa/common/tokens_valid.rego',
      'etc/nsm/opa/common/tokens_chained.rego',
      'etc/nsm/opa/common/tokens_expired.rego',
      'etc/nsm/opa/server/prev_token_signed.rego',
    ]);
    expect(resolvePolicies(['etc/nsm/opa/registry/client_allowed.rego'])).toEqual(['etc/nsm/opa/registry/client_allowed.rego']);
    expect(() => resolvePolicies(['etc/nsm/opa/custom/mine.rego'])).toThrow(/names no policy \(known: /);
    expect(() => resolvePolicies(['('])).toThrow(/not a valid policy path pattern/);
  });
});

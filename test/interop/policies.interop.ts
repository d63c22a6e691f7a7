import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPath, pathPolicies, type PathInput } from '../../operators/authorize/policies.js';
import type { PeerIdentity } from '../../operators/core/peer.js';
import { signEs256, type TokenClaims } from '../../operators/tools/jwt.js';
import { createCa, issueSvid, type IssuedCertificate } from '../../streams/spiffe/ca.js';
import { referenceBinaries } from './reference.js';

const bin = referenceBinaries();

const ca = createCa('nsm.local', new Date(), 3_600_000);
const workload = (name: string): IssuedCertificate & { id: string } => ({ id: `spiffe://nsm.local/${name}`, ...issueSvid(ca, `spiffe://nsm.local/${name}`, new Date(), 3_600_000) });
const [nsc, nsmgr, nse] = [workload('nsc'), workload('nsmgr'), workload('nse')];
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;
const token = (from: IssuedCertificate & { id: string }, claims: TokenClaims = {}) => signEs256({ sub: from.id, aud: [nsmgr.id], exp: inAnHour(), ...claims }, from.key);
const chained = [token(nsc, { aud: [nsmgr.id] }), token(nsmgr, { aud: [nse.id] }), token(nse, { aud: [] })];

/** A path case: its tokens, index and the TLS peer the policy sees (undefined: none). */
interface Case {
  readonly name: string;
  readonly tokens: readonly string[];
  readonly index: number;
  readonly peer?: IssuedCertificate & { id: string };
}

const cases: Case[] = [
  { name: 'empty path', tokens: [], index: 0, peer: nsc },
  { name: 'one segment, index 0 (a server with no caller segment, a client with no next one)', tokens: chained.slice(0, 1), index: 0, peer: nsc },
  { name: 'one token without exp', tokens: [signEs256({ sub: nsc.id, aud: [nsmgr.id] }, nsc.key)], index: 0, peer: nsc },
  { name: 'one expired token', tokens: [token(nsc, { exp: Math.floor(Date.now() / 1000) - 10 })], index: 0, peer: nsc },
  { name: 'a malformed token', tokens: ['abc', chained[1] as string], index: 1, peer: nsc },
  { name: 'server view at the nsmgr: signed by the caller', tokens: chained.slice(0, 2), index: 1, peer: nsc },
  { name: 'server view at the nsmgr: another TLS peer', tokens: chained.slice(0, 2), index: 1, peer: nse },
  { name: 'server view at the nsmgr: no TLS peer', tokens: chained.slice(0, 2), index: 1 },
  { name: 'client view at the nsc: the server signed the next segment', tokens: chained, index: 0, peer: nsmgr },
  { name: 'client view at the nsc: another server', tokens: chained, index: 0, peer: nse },
  { name: 'the last segment of a path (client at the end)', tokens: chained, index: 2, peer: nse },
  { name: 'not chained: audience names someone else', tokens: [token(nsc, { aud: [nse.id] }), chained[1] as string], index: 1, peer: nsc },
  { name: 'audience of two, one of them the next subject', tokens: [token(nsc, { aud: [nsmgr.id, nse.id] }), chained[1] as string], index: 1, peer: nsc },
  { name: 'no audience', tokens: [token(nsc, { aud: [] }), chained[1] as string], index: 1, peer: nsc },
];

const segments = (c: Case) => c.tokens.map((t, i) => ({ name: `hop-${i}`, id: `id-${i}`, token: t }));

/** Upstream's verdict per (case, policy), from OPA with upstream's rego files. */
function upstreamVerdicts(policies: readonly string[]): boolean[][] {
  const lines = cases.flatMap((c) =>
    policies.map((policy) => JSON.stringify({ policy, path: { index: c.index, pathSegments: segments(c) }, certificate: c.peer ? c.peer.cert.toString() : '' })),
  );
  const out = execFileSync(join(bin as string, 'policies'), { input: `${lines.join('\n')}\n`, encoding: 'utf8' });
  const verdicts = out
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { allowed: boolean }).allowed);
  return cases.map((_, i) => verdicts.slice(i * policies.length, (i + 1) * policies.length));
}

describe('path policies: nsm-rx’s predicates give upstream’s verdicts (OPA on sdk v1.14.5’s rego files)', () => {
  if (bin === undefined) return;

  it('every path policy, on every case: empty and one-segment paths, missing exp, expired, malformed, server and client views, wrong or no TLS peer, audiences', () => {
    const policies = Object.keys(pathPolicies);
    const upstream = upstreamVerdicts(policies);
    const ours = cases.map((c) => {
      const peer: PeerIdentity | undefined = c.peer && { id: c.peer.id, publicKey: c.peer.cert.publicKey };
      const input: PathInput = { segments: segments(c), index: c.index, peer, now: Date.now() };
      return policies.map((p) => checkPath([p], input) === undefined);
    });
    const table = (v: boolean[][]) => Object.fromEntries(cases.map((c, i) => [c.name, Object.fromEntries(policies.map((p, j) => [p.replace(/^.*\//, ''), v[i]?.[j]]))]));
    expect(table(ours)).toEqual(table(upstream));
    // The table is not trivially all-pass or all-fail: both verdicts occur for every policy.
    for (let j = 0; j < policies.length; j++) expect(new Set(upstream.map((row) => row[j]))).toEqual(new Set([true, false]));
  });
});

/** A SPIFFE ID, `spiffe://<trust domain>/<path>` (SPIFFE-ID spec §2). */
export interface SpiffeId {
  readonly trustDomain: string;
  /** '' or `/segment/...`. */
  readonly path: string;
  readonly href: string;
}

const trustDomainChars = /^[a-z0-9._-]+$/;
const segmentChars = /^[A-Za-z0-9._-]+$/;

/** Why `raw` is not a SPIFFE ID, or undefined when it is one. */
function problem(raw: string): string | undefined {
  if (raw.length > 2048) return 'longer than 2048 bytes';
  if (!raw.startsWith('spiffe://')) return 'the scheme must be spiffe://';
  const rest = raw.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const td = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  if (td === '') return 'the trust domain is empty';
  if (!trustDomainChars.test(td)) return `trust domain "${td}" may only hold lowercase letters, digits, '.', '-' and '_' (no port, user or query)`;
  if (path === '') return undefined;
  for (const segment of path.slice(1).split('/')) {
    if (segment === '') return 'the path has an empty segment (or a trailing /)';
    if (segment === '.' || segment === '..') return 'the path may not hold . or .. segments';
    if (!segmentChars.test(segment)) return `path segment "${segment}" may only hold letters, digits, '.', '-' and '_'`;
  }
  return undefined;
}

/** Parses a SPIFFE ID; throws an Error naming what is wrong. */
export function parseSpiffeId(raw: string): SpiffeId {
  const why = problem(raw);
  if (why !== undefined) throw new Error(`"${raw.slice(0, 80)}" is not a SPIFFE ID: ${why}`);
  const rest = raw.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  return { trustDomain: slash < 0 ? rest : rest.slice(0, slash), path: slash < 0 ? '' : rest.slice(slash), href: raw };
}

export const isSpiffeId = (raw: string): boolean => problem(raw) === undefined;

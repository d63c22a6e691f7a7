import { basename } from 'node:path';
import { parseSpiffeId } from './spiffeId.js';
import type { PeerProcess } from './peerProcess.js';

/**
 * Registration entries: which SPIFFE ID a workload gets, SPIRE-style. One entry per line,
 * `<spiffe id> <selector> [<selector>…]`; every selector must match; the first matching entry
 * wins; `#` starts a comment. Selectors (as SPIRE's unix attestor, plus two of our own):
 *   unix:uid:<n>  unix:gid:<n>  unix:path:<executable>  unix:pid:<n>  arg:<an argv element>  env:<NAME>=<value>
 * (`unix:pid` names one running process: for a supervisor that starts a mesh and watches it.)
 */
export interface Entry {
  readonly spiffeId: string;
  readonly selectors: readonly Selector[];
}

type Selector = (p: PeerProcess) => boolean;

function selector(raw: string, where: string): Selector {
  const [kind, ...rest] = raw.split(':');
  const value = rest.join(':');
  if (kind === 'unix' && rest[0] === 'uid') return (p) => p.uid === Number(rest[1]);
  if (kind === 'unix' && rest[0] === 'gid') return (p) => p.gid === Number(rest[1]);
  if (kind === 'unix' && rest[0] === 'pid') return (p) => p.pid === Number(rest[1]);
  if (kind === 'unix' && rest[0] === 'path') return (p) => p.path === rest.slice(1).join(':');
  if (kind === 'arg' && value !== '') return (p) => p.argv.includes(value);
  if (kind === 'env' && value.includes('=')) {
    const [name = '', ...v] = value.split('=');
    return (p) => p.env.get(name) === v.join('=');
  }
  throw new Error(`${where}: unknown selector "${raw}" (expected unix:uid:<n>, unix:gid:<n>, unix:pid:<n>, unix:path:<file>, arg:<word> or env:<NAME>=<value>)`);
}

/** Parses an entries file; throws naming the line and what is wrong. */
export function parseEntries(text: string, file = 'entries'): Entry[] {
  const entries: Entry[] = [];
  text.split('\n').forEach((line, i) => {
    const words = line.replace(/#.*/, '').trim().split(/\s+/).filter((w) => w !== '');
    if (words.length === 0) return;
    const [id = '', ...selectors] = words;
    const where = `${file}:${i + 1}`;
    try {
      if (parseSpiffeId(id).path === '') throw new Error(`${id} names a trust domain, not a workload`);
    } catch (e) {
      throw new Error(`${where}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (selectors.length === 0) throw new Error(`${where}: ${id} has no selector (an entry matching everyone must say so: unix:uid:<n>)`);
    entries.push({ spiffeId: id, selectors: selectors.map((s) => selector(s, where)) });
  });
  return entries;
}

const segment = (s: string): string => s.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.{1,2}$/, '_');

/**
 * The SPIFFE ID of a workload: the first matching entry; else `spiffe://<td>/uid/<uid>/<name>`,
 * name = its NSM_NAME (each NSM component has one) or its executable's name. Anything of the same
 * uid can claim that name — the same trust a unix-uid selector gives in SPIRE.
 */
export function spiffeIdFor(p: PeerProcess, entries: readonly Entry[], trustDomain: string): string {
  const entry = entries.find((e) => e.selectors.every((s) => s(p)));
  if (entry) return entry.spiffeId;
  const name = p.env.get('NSM_NAME') || basename(p.path) || `pid-${p.pid}`;
  return `spiffe://${trustDomain}/uid/${p.uid}/${segment(name)}`;
}

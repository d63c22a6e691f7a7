import { createHash, randomInt } from 'node:crypto';
import { status } from '../../operators/core/status.js';
import { invalidArgument, NsmError } from '../../operators/core/errors.js';

/** Linux IFNAMSIZ − 1. */
export const maxInterfaceName = 15;

/** A name the kernel takes: 1–15 chars, no `/`, `:` or whitespace, not `.` or `..`. */
export function checkInterfaceName(name: string, where: string): string {
  if (name.length === 0 || name.length > maxInterfaceName || /[\s/:]/.test(name) || name === '.' || name === '..') {
    throw invalidArgument(`${where}: interface name "${name}" is not valid (1–${maxInterfaceName} characters, no "/", ":" or spaces)`);
  }
  return name;
}

/** Upstream's alphabet for generated interface names (sdk nanoid). */
const nameAlphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `<service[:10]>-<suffix>`, 15 characters: the suffix's i-th character is `nameAlphabet[digit(i) % 62]`. */
function serviceInterfaceName(service: string, digit: (i: number) => number): string {
  const prefix = service.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, maxInterfaceName - 5) || 'nsm';
  const suffix = Array.from({ length: maxInterfaceName - prefix.length - 1 }, (_, i) => nameAlphabet[digit(i) % nameAlphabet.length]);
  return `${prefix}-${suffix.join('')}`;
}

/**
 * The endpoint-side interface name the forwarder proposes: upstream's shape (the service's first
 * 10 characters, then characters of upstream's alphabet to 15), from a hash of the connection
 * id instead of at random, so a re-Request after a forwarder restart finds its own interface.
 * With a long service name 4 characters are left: 62⁴ names, where hex digits gave 16⁴ and two
 * of 100 connections shared a name in about one mesh in 14. A name `held` by another connection
 * of this forwarder is passed over for the next hash of the id.
 */
export function interfaceNameFor(service: string, connectionId: string, held: Iterable<string | undefined> = []): string {
  const taken = new Set(held);
  for (let i = 0; ; i++) {
    const hash = createHash('sha256').update(i === 0 ? connectionId : `${connectionId}#${i}`).digest();
    const name = serviceInterfaceName(service, (d) => hash[d] ?? 0);
    if (!taken.has(name)) return name;
  }
}

/** Upstream's name for an interface nobody named (sdk nanoid.GenerateLinuxInterfaceName): `<service[:10]>-<random>`. */
export function randomInterfaceName(service: string): string {
  return serviceInterfaceName(service, () => randomInt(nameAlphabet.length));
}

/**
 * The marker (interface alias) on every interface this datapath makes: which side of which
 * client connection it is. After a crash a new forwarder recognises its predecessor's
 * interfaces by it (upstream sdk-vpp: `client-<id>` / `server-<id>` aliases).
 */
export function aliasFor(side: 'client' | 'endpoint', firstSegmentId: string): string {
  return `nsm-rx/${side}/${firstSegmentId}`;
}

export const isOurAlias = (alias: string | undefined): boolean => alias?.startsWith('nsm-rx/') ?? false;

/**
 * Before making interface `name` for the connection side marked `alias`: which of the netns's
 * `present` interfaces go — ours for that side (a crashed forwarder's, or under an old name).
 * An interface with that name made for another connection stays: taking it would cut that
 * connection, whose heal would take it back (ALREADY_EXISTS); a foreign one is the caller's error.
 */
export function staleLinks(present: readonly { readonly ifname: string; readonly ifalias?: string }[], name: string, alias: string): string[] {
  return present.flatMap((l) => {
    if (l.ifalias === alias) return [l.ifname];
    if (l.ifname !== name) return [];
    if (isOurAlias(l.ifalias)) throw new NsmError(status.ALREADY_EXISTS, `interface "${name}" in the target network namespace belongs to another connection (${l.ifalias ?? ''})`);
    throw invalidArgument(`interface "${name}" already exists in the target network namespace and was not made by nsm-rx`);
  });
}

/**
 * Routing tables (and rule priorities) for a connection side's policy routes: 16 per side from
 * a hash of its alias, in a range (0x4e530000 + …) kept clear of tables people number by hand,
 * so a restarted forwarder finds its predecessor's rules without any state.
 */
export function policyTables(alias: string): { readonly table: number; readonly pref: number } {
  const h = createHash('sha256').update(alias).digest().readUInt32BE(0);
  return { table: 0x4e530000 + (h & 0xfff) * 16, pref: 20000 + (h & 0x1ff) * 16 };
}

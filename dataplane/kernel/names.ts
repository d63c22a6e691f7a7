import { createHash } from 'node:crypto';
import { invalidArgument } from '../../operators/core/errors.js';

/** Linux IFNAMSIZ − 1. */
export const maxInterfaceName = 15;

/** A name the kernel takes: 1–15 chars, no `/`, `:` or whitespace, not `.` or `..`. */
export function checkInterfaceName(name: string, where: string): string {
  if (name.length === 0 || name.length > maxInterfaceName || /[\s/:]/.test(name) || name === '.' || name === '..') {
    throw invalidArgument(`${where}: interface name "${name}" is not valid (1–${maxInterfaceName} characters, no "/", ":" or spaces)`);
  }
  return name;
}

/**
 * The endpoint-side interface name when the next hop gave none: the service's first 10
 * characters and a hash of the connection id (upstream: `<service[:10]>-<random>`; hashing
 * keeps it stable across a forwarder restart, so a re-Request finds its own interface).
 */
export function interfaceNameFor(service: string, connectionId: string): string {
  const prefix = service.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 10) || 'nsm';
  const hash = createHash('sha256').update(connectionId).digest('hex');
  return `${prefix}-${hash.slice(0, maxInterfaceName - prefix.length - 1)}`;
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
 * `present` interfaces go — ours for that side (a crashed forwarder's, or under an old name),
 * or ours holding the name. A foreign interface with that name is the caller's error.
 */
export function staleLinks(present: readonly { readonly ifname: string; readonly ifalias?: string }[], name: string, alias: string): string[] {
  return present.flatMap((l) => {
    if (l.ifalias === alias || (l.ifname === name && isOurAlias(l.ifalias))) return [l.ifname];
    if (l.ifname === name) throw invalidArgument(`interface "${name}" already exists in the target network namespace and was not made by nsm-rx`);
    return [];
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

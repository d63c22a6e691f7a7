/**
 * NSM's interdomain names (upstream tools/interdomain): `name@domain` names something in another
 * domain (a cluster, or a floating registry shared by several). The domain is everything after
 * the `@`; the target is what the other domain calls it.
 */

/** A name is interdomain when it has an `@domain` suffix. */
export const isInterdomain = (name: string): boolean => name.includes('@');

/** The domain of `name@domain` ('' for a local name). */
export function domainOf(name: string): string {
  const at = name.indexOf('@');
  return at < 0 ? '' : name.slice(at + 1);
}

/** `name` of `name@domain` (a local name as it is). */
export function targetOf(name: string): string {
  const at = name.indexOf('@');
  return at < 0 ? name : name.slice(0, at);
}

/** `name@domain`; a local name when `domain` is empty. */
export const joinDomain = (name: string, domain: string): string => (domain === '' ? name : `${name}@${domain}`);

/**
 * What is wrong with an interdomain name, or undefined: one `@`, a name before it and a domain
 * after it. (Upstream splits at the first `@` and lets `a@b@c` ask DNS for `b@c`.)
 */
export function interdomainProblem(name: string): string | undefined {
  if (!isInterdomain(name)) return undefined;
  const parts = name.split('@');
  if (parts.length > 2) return `has ${parts.length - 1} "@"; an interdomain name is name@domain`;
  if (parts[0] === '' || parts[1] === '') return 'must be name@domain with both parts';
  return undefined;
}

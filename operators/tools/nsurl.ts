import type { Mechanism } from '../../proto/gen/connection.js';

/**
 * The client's network service URLs (`NSM_NETWORK_SERVICES`, the `networkservicemesh.io`
 * annotation): `mechanism://network-service[@domain][/interface][?key=value&key=value]`, read the
 * way upstream sdk `tools/nsurl` reads a Go `url.URL`:
 *
 * - mechanism: `{cls: LOCAL, type: SCHEME upper-cased}`; when the path has a `/`, its last
 *   segment (%-decoded) is the interface name: `parameters: {name}` (`kernel://ns/` gives
 *   `name: ""`, `kernel://ns` gives no parameters);
 * - network service: the URL's host without a port, prefixed by `user@` when a user is given
 *   (`kernel://ns@dc.example.com/x` → `ns@dc.example.com`);
 * - labels: the query, Go `url.Query()` style — `+` is a space, %-escapes decoded, a repeated key's
 *   values joined with commas in order, `k` alone is `k: ""`, a pair with a bad escape or a `;`
 *   is dropped; the `#fragment` is ignored.
 *
 * Go's url.Parse errors (control characters, bad %-escapes in user, host or path, a non-numeric
 * port, a bad user part) are errors here too. Stricter than upstream, which would quietly produce
 * an empty service or mechanism: an entry must have a scheme followed by `//` and a non-empty
 * network service.
 */

export interface NetworkServiceUrl {
  /** The entry as given (trimmed). */
  readonly url: string;
  readonly networkService: string;
  readonly mechanism: Mechanism;
  readonly labels: Record<string, string>;
}

/** What an entry looks like, for error messages. */
export const NSURL_FORM = 'mechanism://network-service[@domain][/interface][?key=value&...], e.g. kernel://my-service/nsm-1?app=web';

/** The mechanism parameter key of the interface name (api mechanisms/common InterfaceNameKey). */
export const INTERFACE_NAME_KEY = 'name';

type Mode = 'path' | 'host' | 'user' | 'query' | 'fragment';

const isHex = (c: string): boolean => /^[0-9A-Fa-f]$/.test(c);
const ALNUM = /^[A-Za-z0-9]$/;
const HOST_OK = new Set("-_.~!$&'()*+,;=:[]<>\"");
const USERINFO_OK = new Set("-._:~!$&'()*+,;=%@");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Go's url.unescape: decodes %XX (and `+` in query components); throws on what Go refuses. */
function unescape(s: string, mode: Mode): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; ) {
    const c = s[i] as string;
    if (c === '%') {
      const h1 = s[i + 1] ?? '';
      const h2 = s[i + 2] ?? '';
      if (!isHex(h1) || !isHex(h2)) throw new Error(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`);
      if (mode === 'host' && parseInt(h1, 16) < 8 && s.slice(i, i + 3) !== '%25') throw new Error(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`);
      bytes.push(parseInt(h1 + h2, 16));
      i += 3;
      continue;
    }
    if (mode === 'host' && c.charCodeAt(0) < 0x80 && !ALNUM.test(c) && !HOST_OK.has(c)) throw new Error(`invalid character ${JSON.stringify(c)} in host name`);
    if (c === '+' && mode === 'query') bytes.push(0x20);
    else bytes.push(...encoder.encode(String.fromCodePoint(s.codePointAt(i) as number)));
    i += (s.codePointAt(i) as number) > 0xffff ? 2 : 1;
  }
  return decoder.decode(new Uint8Array(bytes));
}

const validOptionalPort = (port: string): boolean => port === '' || /^:[0-9]*$/.test(port);

/** Go's parseHost: the raw authority host, port validated, %-escapes decoded. */
function parseHost(host: string): string {
  if (host.startsWith('[')) {
    const i = host.lastIndexOf(']');
    if (i < 0) throw new Error("missing ']' in host");
    const port = host.slice(i + 1);
    if (!validOptionalPort(port)) throw new Error(`invalid port ${JSON.stringify(port)} after host`);
  } else {
    const i = host.lastIndexOf(':');
    if (i >= 0 && !validOptionalPort(host.slice(i))) throw new Error(`invalid port ${JSON.stringify(host.slice(i))} after host`);
  }
  return unescape(host, 'host');
}

/** Go's URL.Hostname(): the host without its port and without IPv6 brackets. */
function hostname(host: string): string {
  let h = host;
  const colon = h.lastIndexOf(':');
  if (colon >= 0 && validOptionalPort(h.slice(colon))) h = h.slice(0, colon);
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  return h;
}

/** Go's url.ParseQuery with errors ignored (what URL.Query() returns), values joined by commas. */
function parseLabels(rawQuery: string): Record<string, string> {
  const values = new Map<string, string[]>();
  for (const pair of rawQuery.split('&')) {
    if (pair === '' || pair.includes(';')) continue;
    const eq = pair.indexOf('=');
    const rawKey = eq < 0 ? pair : pair.slice(0, eq);
    const rawValue = eq < 0 ? '' : pair.slice(eq + 1);
    let key: string;
    let value: string;
    try {
      key = unescape(rawKey, 'query');
      value = unescape(rawValue, 'query');
    } catch {
      continue;
    }
    const list = values.get(key);
    if (list) list.push(value);
    else values.set(key, [value]);
  }
  const labels: Record<string, string> = {};
  for (const [k, v] of values) labels[k] = v.join(',');
  return labels;
}

/**
 * Parses one network service URL.
 * @throws Error naming the entry and what is wrong with it.
 */
export function parseNsUrl(entry: string): NetworkServiceUrl {
  const raw = entry.trim();
  const bad = (why: string): Error => new Error(`network service URL ${JSON.stringify(entry)}: ${why}; expected ${NSURL_FORM}`);
  if (/[\x00-\x1f\x7f]/.test(raw)) throw bad('invalid control character');
  const hash = raw.indexOf('#');
  const beforeFragment = hash < 0 ? raw : raw.slice(0, hash);
  if (hash >= 0) {
    try {
      unescape(raw.slice(hash + 1), 'fragment');
    } catch (e) {
      throw bad((e as Error).message);
    }
  }

  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(beforeFragment);
  if (!m) throw bad('missing mechanism (URL scheme)');
  const scheme = (m[1] as string).toLowerCase();
  let rest = beforeFragment.slice(m[0].length);

  let rawQuery = '';
  if (rest.endsWith('?') && rest.split('?').length === 2) rest = rest.slice(0, -1);
  else {
    const q = rest.indexOf('?');
    if (q >= 0) {
      rawQuery = rest.slice(q + 1);
      rest = rest.slice(0, q);
    }
  }
  if (!rest.startsWith('//')) throw bad(`"${scheme}:" must be followed by "//" and the network service`);

  let authority = rest.slice(2);
  let path = '';
  const slash = authority.indexOf('/');
  if (slash >= 0) {
    path = authority.slice(slash);
    authority = authority.slice(0, slash);
  }

  let username = '';
  let name: string;
  let decodedPath: string;
  try {
    const at = authority.lastIndexOf('@');
    const host = parseHost(at < 0 ? authority : authority.slice(at + 1));
    if (at >= 0) {
      const userinfo = authority.slice(0, at);
      for (const ch of userinfo) {
        if (!ALNUM.test(ch) && !USERINFO_OK.has(ch)) throw new Error('invalid userinfo');
      }
      const colon = userinfo.indexOf(':');
      username = unescape(colon < 0 ? userinfo : userinfo.slice(0, colon), 'user');
      if (colon >= 0) unescape(userinfo.slice(colon + 1), 'user');
    }
    name = hostname(host);
    decodedPath = unescape(path, 'path');
  } catch (e) {
    throw bad((e as Error).message);
  }
  if (name === '') throw bad('missing network service');
  const networkService = username !== '' ? `${username}@${name}` : name;

  const mechanism: Mechanism = { cls: 'LOCAL', type: scheme.toUpperCase(), parameters: {} };
  const segments = decodedPath.split('/');
  if (segments.length > 1) mechanism.parameters[INTERFACE_NAME_KEY] = segments[segments.length - 1] as string;

  return { url: raw, networkService, mechanism, labels: parseLabels(rawQuery) };
}

/**
 * Parses the comma-separated list of `NSM_NETWORK_SERVICES` (envconfig splits on every comma; a
 * blank value is an empty list). Entries are trimmed; an empty entry is an error.
 * @throws Error naming the entry (and its position) that is wrong.
 */
export function parseNetworkServices(list: string): NetworkServiceUrl[] {
  if (list.trim() === '') return [];
  return list.split(',').map((entry, i) => {
    if (entry.trim() === '') throw new Error(`network service URL list ${JSON.stringify(list)}: entry ${i + 1} is empty; expected ${NSURL_FORM}`);
    try {
      return parseNsUrl(entry);
    } catch (e) {
      throw new Error(`entry ${i + 1}: ${(e as Error).message}`);
    }
  });
}

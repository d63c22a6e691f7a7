import type { Connection } from '../../proto/gen/connection.js';
import { domainOf, targetOf } from './interdomain.js';

/** A vl3 DNS name scheme (NSM_DNS_TEMPLATES entry), ready to name a connection. */
export interface DnsTemplate {
  readonly source: string;
  /** The connection's name under this scheme, runs of dots folded into one (as upstream). */
  render(conn: Connection): string;
}

/** A template this build cannot run: names the part it does not understand. */
export class DnsTemplateError extends Error {
  constructor(source: string, part: string) {
    super(`DNS template "${source}": cannot use {{${part}}}: supported are {{ .Id }}, {{ .NetworkService }}, {{ .NetworkServiceEndpointName }}, {{ .Payload }}, {{ index .Labels "key" }}, {{ target .NetworkService }}, {{ domain .NetworkService }}`);
    this.name = 'DnsTemplateError';
  }
}

const fields: Record<string, (c: Connection) => string> = {
  Id: (c) => c.id,
  NetworkService: (c) => c.networkService,
  NetworkServiceEndpointName: (c) => c.networkServiceEndpointName,
  Payload: (c) => c.payload,
};
const functions: Record<string, (value: string) => string> = { target: targetOf, domain: domainOf };

/** One `{{ … }}` action → what it reads from a connection. */
function action(source: string, body: string): (c: Connection) => string {
  const words = body.trim().split(/\s+/);
  const field = (word: string | undefined) => (word?.startsWith('.') ? fields[word.slice(1)] : undefined);
  const [first, second, third] = words;
  const label = words.length === 3 && first === 'index' && second === '.Labels' ? /^"([^"]*)"$/.exec(third ?? '')?.[1] : undefined;
  // Go's index of a missing map key is the empty string.
  if (label !== undefined) return (c) => c.labels[label] ?? '';
  const plain = words.length === 1 ? field(first) : undefined;
  if (plain) return plain;
  const fn = words.length === 2 ? functions[first ?? ''] : undefined;
  const argument = field(second);
  if (fn && argument) return (c) => fn(argument(c));
  throw new DnsTemplateError(source, body);
}

/**
 * Parses a vl3 DNS name scheme, the part of Go's text/template upstream's NSM_DNS_TEMPLATES
 * use over a Connection: fields, `index .Labels "key"`, and the interdomain functions `target`
 * and `domain` (upstream's vl3dns default: `{{ index .Labels "podName" }}.{{ .NetworkService }}.`).
 * Anything else is a DnsTemplateError naming it, so a scheme never silently names nobody.
 */
export function parseDnsTemplate(source: string): DnsTemplate {
  const parts: Array<string | ((c: Connection) => string)> = [];
  let rest = source;
  for (let open = rest.indexOf('{{'); open >= 0; open = rest.indexOf('{{')) {
    const close = rest.indexOf('}}', open);
    if (close < 0) throw new DnsTemplateError(source, rest.slice(open + 2));
    parts.push(rest.slice(0, open), action(source, rest.slice(open + 2, close)));
    rest = rest.slice(close + 2);
  }
  parts.push(rest);
  return {
    source,
    render: (conn) =>
      parts
        .map((p) => (typeof p === 'string' ? p : p(conn)))
        .join('')
        .replace(/\.+/g, '.'),
  };
}

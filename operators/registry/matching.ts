import type { NetworkService, NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { timestampToMs } from '../core/path.js';
import { deepEqual } from '../tools/deepEqual.js';
import { executeGoTemplate, parseGoTemplate, type GoTemplate } from '../tools/goTemplate.js';

/**
 * Upstream `matchutils` (sdk pkg/tools/matchutils): how registry Find queries match stored
 * items, and how a network service's `matches` select endpoints for a request's labels.
 *
 * Go's nil vs empty: over the wire an empty repeated or map field decodes to nil in Go, so
 * "nil" in upstream reads as "empty" here (ts-proto decodes both to `[]` / `{}`).
 */

export type Labels = Readonly<Record<string, string>>;

const has = (o: object, k: string): boolean => Object.hasOwn(o, k);

/**
 * Does the stored NSE `nse` match the Find query's `query` NSE? Every non-empty query field must
 * match: `name` equal; each service → label k/v of `network_service_labels` present in the NSE's;
 * `expiration_time` with equal seconds (nanos ignored); every `network_service_names` entry in
 * the NSE's list; `url` a substring of the NSE's url. A missing query matches everything.
 *
 * One case upstream does not define: a query with `expiration_time` against an NSE without one
 * dereferences nil in Go (a panic); here it is simply no match.
 */
export function matchNetworkServiceEndpoint(query: NetworkServiceEndpoint | undefined, nse: NetworkServiceEndpoint): boolean {
  if (query === undefined) return true;
  if (query.name !== '' && query.name !== nse.name) return false;
  for (const [service, want] of Object.entries(query.networkServiceLabels)) {
    const have = has(nse.networkServiceLabels, service) ? nse.networkServiceLabels[service] : undefined;
    if (have === undefined) return false;
    for (const [k, v] of Object.entries(want?.labels ?? {})) {
      if (!has(have.labels, k) || have.labels[k] !== v) return false;
    }
  }
  if (query.expirationTime !== undefined) {
    if (nse.expirationTime === undefined || nse.expirationTime.seconds !== query.expirationTime.seconds) return false;
  }
  if (query.networkServiceNames.length > 0) {
    const names = new Set(nse.networkServiceNames);
    if (!query.networkServiceNames.every((n) => names.has(n))) return false;
  }
  return query.url === '' || nse.url.includes(query.url);
}

/**
 * Does the stored NS `ns` match the Find query's `query` NS? `name` empty or equal, `payload`
 * empty or equal, `matches` empty or deep-equal (order of matches matters, order of map keys
 * does not; an absent `metadata` differs from an empty one, as with Go's proto.Equal).
 */
export function matchNetworkService(query: NetworkService | undefined, ns: NetworkService): boolean {
  if (query === undefined) return true;
  return (
    (query.name === '' || query.name === ns.name) &&
    (query.payload === '' || query.payload === ns.payload) &&
    (query.matches.length === 0 || deepEqual(query.matches, ns.matches))
  );
}

/** Parsed selector templates (`undefined`: Go cannot parse it), bounded: selectors are few. */
const parsedSelectors = new Map<string, GoTemplate | undefined>();
const PARSED_SELECTORS_MAX = 1024;

function parsedSelector(value: string): GoTemplate | undefined {
  if (parsedSelectors.has(value)) return parsedSelectors.get(value);
  let parsed: GoTemplate | undefined;
  try {
    parsed = parseGoTemplate(value);
  } catch {
    parsed = undefined;
  }
  if (parsedSelectors.size >= PARSED_SELECTORS_MAX) parsedSelectors.clear();
  parsedSelectors.set(value, parsed);
  return parsed;
}

/**
 * Upstream processLabels: the selector value executed as a Go template over `vars` (see
 * operators/tools/goTemplate.ts for what is supported); one that cannot be parsed or executed
 * (or that uses what is not supported here) stays literal.
 */
function renderSelectorValue(value: string, vars: Labels | undefined): string {
  if (!value.includes('{{')) return value;
  const parsed = parsedSelector(value);
  if (parsed === undefined) return value;
  try {
    return executeGoTemplate(parsed, vars);
  } catch {
    return value;
  }
}

/**
 * Upstream IsSubset(a=labels, b=selector, vars): false when `labels` has fewer keys than
 * `selector`; otherwise every selector `k: v` must hold `labels[k] === v` (a missing key reads as
 * ""), or, failing that, `labels[k] === v executed as a Go template over vars` (pipelines and
 * Go's builtins: `{{.nodeName}}`, `{{index . "pod-name"}}`, `{{if eq .zone "a"}}…{{end}}`; a key
 * missing from vars renders `<no value>`; a template that fails stays literal).
 */
export function isSubset(labels: Labels | undefined, selector: Labels | undefined, vars: Labels | undefined): boolean {
  const a = labels ?? {};
  const b = selector ?? {};
  const wanted = Object.entries(b);
  if (Object.keys(a).length < wanted.length) return false;
  for (const [k, v] of wanted) {
    const have = has(a, k) ? (a[k] as string) : '';
    if (have !== v && have !== renderSelectorValue(v, vars)) return false;
  }
  return true;
}

/**
 * Has this NSE expired at `now` (ms, scheduler time)? As upstream discover: valid while
 * `expiration_time` is after now; an NSE without `expiration_time` never expires.
 */
export function isExpired(nse: NetworkServiceEndpoint, now: number): boolean {
  return nse.expirationTime !== undefined && timestampToMs(nse.expirationTime) <= now;
}

/**
 * Upstream MatchEndpoint: which of `nses` may serve a request with `requestLabels` for `ns`.
 * 1. No `matches` → all NSEs.
 * 2. Walk the matches in order; skip one whose `source_selector` is not a subset of the request
 *    labels (selector values are templates over the request labels).
 * 3. Candidates: for each route's `destination_selector`, in route order, every NSE whose labels
 *    for this service (`network_service_labels[ns.name].labels`) contain it. An NSE that fits
 *    several routes appears once per route (duplicates weight the round robin, as upstream).
 * 4. No candidates and `fallthrough` → next match.
 * 5. No candidates, no routes and a `metadata` → all NSEs.
 * 6. Otherwise the candidates, even none. When no match applies: none.
 *
 * With `now`, NSEs expired at that time are left out first (upstream discover does that before
 * calling MatchEndpoint), so "all NSEs" means all live ones.
 */
export function matchEndpoint(
  requestLabels: Labels | undefined,
  ns: NetworkService,
  nses: readonly NetworkServiceEndpoint[],
  now?: number,
): NetworkServiceEndpoint[] {
  const live = now === undefined ? [...nses] : nses.filter((nse) => !isExpired(nse, now));
  if (ns.matches.length === 0) return live;
  for (const match of ns.matches) {
    if (!isSubset(requestLabels, match.sourceSelector, requestLabels)) continue;
    const candidates: NetworkServiceEndpoint[] = [];
    for (const route of match.routes) {
      for (const nse of live) {
        const labels = has(nse.networkServiceLabels, ns.name) ? nse.networkServiceLabels[ns.name]?.labels : undefined;
        if (isSubset(labels, route.destinationSelector, requestLabels)) candidates.push(nse);
      }
    }
    if (match.fallthrough && candidates.length === 0) continue;
    if (match.metadata !== undefined && match.routes.length === 0 && candidates.length === 0) return live;
    return candidates;
  }
  return [];
}

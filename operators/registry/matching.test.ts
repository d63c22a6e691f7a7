import { describe, expect, it } from 'vitest';
import { Match, NetworkService, NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { msToTimestamp } from '../core/path.js';
import { isExpired, isSubset, matchEndpoint, matchNetworkService, matchNetworkServiceEndpoint, type Labels } from './matching.js';

type DeepPartial<T> = T extends string | number | boolean | undefined
  ? T
  : T extends Array<infer U>
    ? Array<DeepPartial<U>>
    : { [K in keyof T]?: DeepPartial<T[K]> };
type NsePartial = DeepPartial<NetworkServiceEndpoint>;
type NsPartial = DeepPartial<NetworkService>;
const nse = (o: NsePartial) => NetworkServiceEndpoint.fromPartial(o as NetworkServiceEndpoint);
const ns = (o: NsPartial) => NetworkService.fromPartial(o as NetworkService);

describe('matchNetworkService (upstream MatchNetworkServices)', () => {
  const reference = ns({
    name: 'ns-1-substring-match',
    payload: 'IP',
    matches: [{ sourceSelector: { app: 'firewall' }, routes: [{ destinationSelector: { app: 'some-middle-app' } }] }],
  });

  it.each<[string, NsPartial, boolean]>([
    ['empty query', {}, true],
    ['the same service', reference, true],
    ['same name', { name: 'ns-1-substring-match' }, true],
    ['other name', { name: 'different-name' }, false],
    ['a prefix of the name (names compare strictly)', { name: 'ns-1' }, false],
    ['same payload', { payload: 'IP' }, true],
    ['other payload', { payload: 'ETHERNET' }, false],
    ['same matches', { matches: reference.matches }, true],
    ['other source selector', { matches: [{ sourceSelector: { app: 'vpn' }, routes: [{ destinationSelector: { app: 'some-middle-app' } }] }] }, false],
    ['matches that differ only in fallthrough', { matches: [{ ...reference.matches[0], fallthrough: true }] }, false],
    ['matches with an extra (empty) metadata', { matches: [{ ...reference.matches[0], metadata: { labels: {} } }] }, false],
    ['a prefix of the matches list', { matches: [] }, true],
    ['name right, payload wrong', { name: 'ns-1-substring-match', payload: 'ETHERNET' }, false],
  ])('%s → %s', (_what, query, want) => {
    expect(matchNetworkService(ns(query), reference)).toBe(want);
  });

  it('compares matches structurally: map key order does not matter, match order does', () => {
    const a = Match.fromPartial({ sourceSelector: { x: '1', y: '2' }, routes: [{ destinationSelector: { d: '1' } }] });
    const b = Match.fromPartial({ sourceSelector: { y: '2', x: '1' }, routes: [{ destinationSelector: { d: '1' } }] });
    const c = Match.fromPartial({ sourceSelector: {}, fallthrough: true });
    const stored = ns({ name: 's', matches: [a, c] });
    expect(matchNetworkService(ns({ matches: [b, c] }), stored)).toBe(true);
    expect(matchNetworkService(ns({ matches: [c, b] }), stored)).toBe(false);
    expect(matchNetworkService(ns({ matches: [b] }), stored)).toBe(false);
  });

  it('an absent query matches everything', () => {
    expect(matchNetworkService(undefined, reference)).toBe(true);
  });
});

describe('matchNetworkServiceEndpoint (upstream MatchNetworkServiceEndpoints)', () => {
  const reference = nse({
    name: 'nse-1-substring-match',
    networkServiceNames: ['nse-service-1', 'nse-service-2'],
    networkServiceLabels: { Service1: { labels: { foo: 'bar' } }, Service2: { labels: { foo2: 'bar2' } } },
    url: 'tcp://1.1.1.1',
    expirationTime: { seconds: 600, nanos: 0 },
  });

  it.each<[string, NsePartial, boolean]>([
    ['empty query', {}, true],
    ['the same endpoint', reference, true],
    ['same name', { name: 'nse-1-substring-match' }, true],
    ['other name', { name: 'different-name' }, false],
    ['a prefix of the name', { name: 'nse-1' }, false],
    ['same labels', { networkServiceLabels: reference.networkServiceLabels }, true],
    ['labels of another service', { networkServiceLabels: { Service3: { labels: { foo: 'bar' } } } }, false],
    ['same expiration seconds', { expirationTime: { seconds: 600, nanos: 0 } }, true],
    ['same seconds, other nanos (nanos are ignored)', { expirationTime: { seconds: 600, nanos: 100000 } }, true],
    ['other expiration seconds', { expirationTime: { seconds: 601, nanos: 0 } }, false],
    ['all service names', { networkServiceNames: ['nse-service-1', 'nse-service-2'] }, true],
    ['some service names', { networkServiceNames: ['nse-service-2'] }, true],
    ['a service name it lacks', { networkServiceNames: ['nse-service-3'] }, false],
    ['one known and one unknown name', { networkServiceNames: ['nse-service-1', 'nse-service-3'] }, false],
    ['same url', { url: 'tcp://1.1.1.1' }, true],
    ['a substring of the url', { url: '://1' }, true],
    ['not a substring of the url', { url: 'udp://' }, false],
    ['name right, url wrong', { name: 'nse-1-substring-match', url: 'unix:///x' }, false],
  ])('%s → %s', (_what, query, want) => {
    expect(matchNetworkServiceEndpoint(nse(query), reference)).toBe(want);
  });

  describe('network_service_labels containment (upstream labelsContains)', () => {
    const stored = nse({
      name: 'x',
      networkServiceLabels: {
        Service1: { labels: { foo: 'bar', foo2: 'bar2', foo3: 'bar3' } },
        Service2: { labels: { foo4: 'bar4' } },
      },
    });
    it.each<[string, Record<string, { labels?: Record<string, string> }>, boolean]>([
      ['no labels', {}, true],
      ['all of them', { Service1: { labels: { foo: 'bar', foo2: 'bar2', foo3: 'bar3' } }, Service2: { labels: { foo4: 'bar4' } } }, true],
      ['a service with no labels', { Service1: {} }, true],
      ['all labels of one service', { Service1: { labels: { foo: 'bar', foo2: 'bar2', foo3: 'bar3' } } }, true],
      ['some labels of one service', { Service1: { labels: { foo: 'bar' } } }, true],
      ['an unknown key', { Service1: { labels: { unknown: 'bar' } } }, false],
      ['a wrong value', { Service1: { labels: { foo: 'unknown' } } }, false],
      ['a label of the other service', { Service1: { labels: { foo4: 'bar4' } } }, false],
      ['one known and one unknown service', { Service2: { labels: { foo4: 'bar4' } }, Service3: {} }, false],
    ])('%s → %s', (_what, labels, want) => {
      expect(matchNetworkServiceEndpoint(nse({ networkServiceLabels: labels }), stored)).toBe(want);
    });

    it('an empty query label value still needs the key to exist', () => {
      expect(matchNetworkServiceEndpoint(nse({ networkServiceLabels: { Service2: { labels: { none: '' } } } }), stored)).toBe(false);
    });
  });

  it('a query with expiration_time does not match an NSE without one', () => {
    expect(matchNetworkServiceEndpoint(nse({ expirationTime: { seconds: 0, nanos: 0 } }), nse({ name: 'x' }))).toBe(false);
  });

  it('an absent query matches everything', () => {
    expect(matchNetworkServiceEndpoint(undefined, reference)).toBe(true);
  });
});

describe('isSubset (upstream IsSubset)', () => {
  const vars: Labels = { app: 'fw', nodeName: 'node-1' };

  it.each<[string, Labels | undefined, Labels | undefined, boolean]>([
    ['empty selector, empty labels', {}, {}, true],
    ['empty selector, undefined labels', undefined, undefined, true],
    ['equal maps', { a: '1', b: '2' }, { a: '1', b: '2' }, true],
    ['selector is a strict subset', { a: '1', b: '2' }, { a: '1' }, true],
    ['a value differs', { a: '1', b: '2' }, { a: '2' }, false],
    ['a key is missing', { a: '1', b: '2' }, { c: '1' }, false],
    ['fewer labels than selector entries', { a: '1' }, { a: '1', b: '2' }, false],
    // A missing key reads as "": the length check is the only thing that can fail it.
    ['missing key with an empty selector value, enough labels', { x: '1' }, { a: '' }, true],
    ['missing key with an empty selector value, no labels', {}, { a: '' }, false],
    ['present key with an empty value', { a: '' }, { a: '' }, true],
  ])('%s → %s', (_what, labels, selector, want) => {
    expect(isSubset(labels, selector, vars)).toBe(want);
  });

  it('renders the selector value as a Go template over vars when the literal compare fails', () => {
    expect(isSubset({ nodeName: 'node-1' }, { nodeName: '{{.nodeName}}' }, vars)).toBe(true);
    expect(isSubset({ nodeName: 'node-2' }, { nodeName: '{{.nodeName}}' }, vars)).toBe(false);
    expect(isSubset({ where: 'on-node-1/fw' }, { where: 'on-{{ .nodeName }}/{{.app}}' }, vars)).toBe(true);
  });

  it('prefers the literal compare: a label equal to the raw template matches', () => {
    expect(isSubset({ k: '{{.nodeName}}' }, { k: '{{.nodeName}}' }, vars)).toBe(true);
  });

  it('a key missing from vars renders <no value>', () => {
    expect(isSubset({ k: '<no value>' }, { k: '{{.absent}}' }, vars)).toBe(true);
    expect(isSubset({ k: '' }, { k: '{{.absent}}' }, vars)).toBe(false);
    expect(isSubset({ k: '<no value>' }, { k: '{{.app}}' }, undefined)).toBe(true);
  });

  it('a template Go cannot parse or execute is compared literally', () => {
    expect(isSubset({ k: '{{.a' }, { k: '{{.a' }, vars)).toBe(true);
    expect(isSubset({ k: 'x' }, { k: '{{.a' }, vars)).toBe(false);
    // len of a missing key fails in Go: the selector stays "{{len .absent}}"
    expect(isSubset({ k: '{{len .absent}}' }, { k: '{{len .absent}}' }, vars)).toBe(true);
    expect(isSubset({ k: '0' }, { k: '{{len .absent}}' }, vars)).toBe(false);
  });

  it.each([
    ['a pipeline', '{{ .app | printf "%s-x" }}', 'fw-x'],
    ['index, for keys that are not Go identifiers', '{{index . "pod-name"}}', 'pod-1'],
    ['index of a missing key: the empty string', '{{index . "absent"}}', ''],
    ['if/eq/else', '{{if eq .nodeName "node-1"}}local{{else}}remote{{end}}', 'local'],
    ['and/or return an operand', '{{or .absent .app}}', 'fw'],
    ['variables and parentheses', '{{$n := .nodeName}}{{printf "%s/%s" $n (index . "app")}}', 'node-1/fw'],
    ['html/js/urlquery', '{{urlquery "a b"}}', 'a+b'],
  ])('renders %s with Go semantics', (_what, template, want) => {
    const labels = { ...vars, 'pod-name': 'pod-1' };
    expect(isSubset({ k: want }, { k: template }, labels)).toBe(true);
    expect(isSubset({ k: `${want}?` }, { k: template }, labels)).toBe(false);
  });

  it('does not treat inherited object properties as labels', () => {
    expect(isSubset({ x: '1' }, { constructor: '' }, vars)).toBe(true);
    expect(isSubset({ x: '1' }, { toString: 'function' }, vars)).toBe(false);
  });
});

describe('isExpired', () => {
  it('is valid while expiration_time is after now; without one it never expires', () => {
    const at = (ms: number) => nse({ name: 'x', expirationTime: msToTimestamp(ms) });
    expect(isExpired(at(1001), 1000)).toBe(false);
    expect(isExpired(at(1000), 1000)).toBe(true);
    expect(isExpired(at(999), 1000)).toBe(true);
    expect(isExpired(nse({ name: 'x' }), Number.MAX_SAFE_INTEGER)).toBe(false);
  });
});

describe('matchEndpoint (upstream MatchEndpoint)', () => {
  const service = 'secure-intranet-connectivity';
  const labelled = (name: string, labels: Record<string, string> | undefined, extra: NsePartial = {}) =>
    nse({ name, networkServiceNames: [service], networkServiceLabels: labels ? { [service]: { labels } } : {}, ...extra });
  const nse1 = labelled('nse-1', { app: 'firewall' });
  const nse2 = labelled('nse-2', { app: 'some-middle-app' });
  const nse3 = labelled('nse-3', { app: 'vpn-gateway' });
  const all = [nse1, nse2, nse3];
  const fromAnywhere = { sourceSelector: {}, routes: [{ destinationSelector: { app: 'firewall' } }] };
  const fromFirewall = { sourceSelector: { app: 'firewall' }, routes: [{ destinationSelector: { app: 'some-middle-app' } }] };
  const fromMiddle = { sourceSelector: { app: 'some-middle-app' }, routes: [{ destinationSelector: { app: 'vpn-gateway' } }] };
  const names = (list: NetworkServiceEndpoint[]) => list.map((n) => n.name);
  const svc = (matches: NsPartial['matches']) => ns({ name: service, matches });

  it('a service without matches selects every NSE, in order', () => {
    expect(names(matchEndpoint({ app: 'x' }, svc([]), all))).toEqual(['nse-1', 'nse-2', 'nse-3']);
  });

  it('empty request labels skip matches with a source selector and land on the catch-all (discover: MatchEmptySourceSelector)', () => {
    expect(names(matchEndpoint({}, svc([fromFirewall, fromMiddle, fromAnywhere]), all))).toEqual(['nse-1']);
  });

  it('the first match whose source selector fits wins (discover: MatchNonEmptySourceSelector)', () => {
    expect(names(matchEndpoint({ app: 'firewall' }, svc([fromFirewall, fromMiddle, fromAnywhere]), all))).toEqual(['nse-2']);
    expect(names(matchEndpoint({ app: 'some-middle-app' }, svc([fromFirewall, fromMiddle, fromAnywhere]), all))).toEqual(['nse-3']);
  });

  it('an empty source selector first takes every request (discover: MatchEmptySourceSelectorGoingFirst)', () => {
    expect(names(matchEndpoint({ app: 'firewall' }, svc([fromAnywhere, fromFirewall, fromMiddle]), all))).toEqual(['nse-1']);
  });

  it('when no match applies, nothing is selected', () => {
    expect(matchEndpoint({ app: 'unknown-app' }, svc([fromFirewall, fromMiddle]), all)).toEqual([]);
  });

  it('an applying match without candidates selects nothing and stops the walk (no fallthrough)', () => {
    const none = { sourceSelector: {}, routes: [{ destinationSelector: { app: 'nobody' } }] };
    expect(matchEndpoint({}, svc([none, fromAnywhere]), all)).toEqual([]);
  });

  it('fallthrough moves on to the next match only when there are no candidates', () => {
    const none = { sourceSelector: {}, fallthrough: true, routes: [{ destinationSelector: { app: 'nobody' } }] };
    expect(names(matchEndpoint({}, svc([none, fromAnywhere]), all))).toEqual(['nse-1']);
    const some = { sourceSelector: {}, fallthrough: true, routes: [{ destinationSelector: { app: 'vpn-gateway' } }] };
    expect(names(matchEndpoint({}, svc([some, fromAnywhere]), all))).toEqual(['nse-3']);
  });

  it('fallthrough on the last match ends with nothing', () => {
    const none = { sourceSelector: {}, fallthrough: true, routes: [{ destinationSelector: { app: 'nobody' } }] };
    expect(matchEndpoint({}, svc([none]), all)).toEqual([]);
  });

  it('a match with metadata and no routes selects every NSE', () => {
    const meta = { sourceSelector: { app: 'firewall' }, metadata: { labels: { p2mp: 'true' } } };
    expect(names(matchEndpoint({ app: 'firewall' }, svc([meta, fromAnywhere]), all))).toEqual(['nse-1', 'nse-2', 'nse-3']);
    // even an empty metadata counts: presence is what matters
    expect(names(matchEndpoint({}, svc([{ sourceSelector: {}, metadata: {} }]), all))).toEqual(['nse-1', 'nse-2', 'nse-3']);
  });

  it('a match with metadata and routes without candidates selects nothing; fallthrough still wins over metadata', () => {
    const meta = { sourceSelector: {}, metadata: { labels: {} }, routes: [{ destinationSelector: { app: 'nobody' } }] };
    expect(matchEndpoint({}, svc([meta, fromAnywhere]), all)).toEqual([]);
    const metaFall = { sourceSelector: {}, fallthrough: true, metadata: { labels: {} } };
    expect(names(matchEndpoint({}, svc([metaFall, fromAnywhere]), all))).toEqual(['nse-1']);
  });

  it('a match without metadata, routes or fallthrough selects nothing', () => {
    expect(matchEndpoint({}, svc([{ sourceSelector: {} }, fromAnywhere]), all)).toEqual([]);
  });

  it('candidates are collected per route, so an NSE fitting several routes appears several times', () => {
    const twoRoutes = {
      sourceSelector: {},
      routes: [{ destinationSelector: { app: 'vpn-gateway' } }, { destinationSelector: {} }],
    };
    expect(names(matchEndpoint({}, svc([twoRoutes]), all))).toEqual(['nse-3', 'nse-1', 'nse-2', 'nse-3']);
  });

  it('uses only the labels an NSE has for this service', () => {
    const other = nse({ name: 'nse-other', networkServiceNames: [service], networkServiceLabels: { 'another-service': { labels: { app: 'firewall' } } } });
    expect(names(matchEndpoint({}, svc([fromAnywhere]), [other, nse1]))).toEqual(['nse-1']);
  });

  it('an empty destination selector takes NSEs without labels too', () => {
    const bare = labelled('bare', undefined);
    expect(names(matchEndpoint({}, svc([{ sourceSelector: {}, routes: [{ destinationSelector: {} }] }]), [bare, nse1]))).toEqual(['bare', 'nse-1']);
  });

  it('renders destination selectors as templates over the request labels (Test_ShouldParseNetworkServiceLabelsTemplate)', () => {
    const onNode = (name: string, node: string) => labelled(name, { nodeName: node });
    const match = { sourceSelector: {}, routes: [{ destinationSelector: { nodeName: '{{.nodeName}}' } }] };
    const nses = [onNode('a', 'node-1'), onNode('b', 'node-2')];
    expect(names(matchEndpoint({ nodeName: 'node-2' }, svc([match]), nses))).toEqual(['b']);
    // no nodeName in the request: the selector renders "<no value>"
    expect(matchEndpoint({}, svc([match]), nses)).toEqual([]);
    expect(names(matchEndpoint({}, svc([match]), [onNode('c', '<no value>')]))).toEqual(['c']);
  });

  it('renders source selectors as templates over the request labels too', () => {
    const match = { sourceSelector: { app: '{{.app}}' }, routes: [{ destinationSelector: {} }] };
    // {app: "x"} ⊇ {app: "{{.app}}" → "x"}
    expect(names(matchEndpoint({ app: 'x' }, svc([match]), [nse1]))).toEqual(['nse-1']);
    expect(matchEndpoint({ other: 'x' }, svc([match]), [nse1])).toEqual([]);
  });

  describe('with now: expired NSEs are left out first', () => {
    const exp = (name: string, labels: Record<string, string>, atMs: number) => labelled(name, labels, { expirationTime: msToTimestamp(atMs) });
    const live = exp('live', { app: 'firewall' }, 2000);
    const dead = exp('dead', { app: 'firewall' }, 500);
    const forever = labelled('forever', { app: 'firewall' });

    it('from the result of a service without matches', () => {
      expect(names(matchEndpoint({}, svc([]), [live, dead, forever], 1000))).toEqual(['live', 'forever']);
      expect(names(matchEndpoint({}, svc([]), [live, dead, forever]))).toEqual(['live', 'dead', 'forever']);
    });

    it('from candidates, so a match whose only candidates expired falls through', () => {
      const m1 = { sourceSelector: {}, fallthrough: true, routes: [{ destinationSelector: { app: 'old' } }] };
      const m2 = { sourceSelector: {}, routes: [{ destinationSelector: { app: 'firewall' } }] };
      const old = exp('old', { app: 'old' }, 999);
      expect(names(matchEndpoint({}, svc([m1, m2]), [old, live], 1000))).toEqual(['live']);
      expect(names(matchEndpoint({}, svc([m1, m2]), [old, live], 998))).toEqual(['old']);
    });

    it('from "all NSEs" of a metadata-only match', () => {
      expect(names(matchEndpoint({}, svc([{ sourceSelector: {}, metadata: {} }]), [dead, live], 1000))).toEqual(['live']);
    });
  });

  it('does not change its input list', () => {
    const input = [nse1, nse2];
    const out = matchEndpoint({}, svc([]), input);
    out.pop();
    expect(input).toHaveLength(2);
  });
});

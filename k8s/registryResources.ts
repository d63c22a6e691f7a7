import type { Timestamp } from '../proto/gen/google/protobuf/timestamp.js';
import type { Match, NetworkService, NetworkServiceEndpoint, NetworkServiceLabels } from '../proto/gen/registry.js';
import { apiVersionOf, type KubeObject, type Resource } from './resource.js';

/**
 * NetworkService and NetworkServiceEndpoint custom resources as upstream's registry-k8s writes
 * them: `spec` is the registry message the way Go's encoding/json prints the generated struct —
 * snake_case keys, empty fields left out (`omitempty`), timestamps as `{seconds, nanos}` — so
 * either registry reads what the other wrote.
 */

type Json = Record<string, unknown>;

/** Go's omitempty: drop "", 0, false, empty lists and maps, and undefined. */
function omitEmpty(fields: Json): Json {
  return Object.fromEntries(
    Object.entries(fields).filter(([, v]) => !(v === undefined || v === '' || v === 0 || v === false || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0))),
  );
}

const timestampJson = (t: Timestamp | undefined): Json | undefined => (t === undefined ? undefined : omitEmpty({ seconds: t.seconds, nanos: t.nanos }));
const labelsJson = (labels: Readonly<Record<string, string>>): Json | undefined => (Object.keys(labels).length === 0 ? undefined : { ...labels });

export function nsSpec(ns: NetworkService): Json {
  return omitEmpty({
    name: ns.name,
    payload: ns.payload,
    matches: ns.matches.map((m) =>
      omitEmpty({
        source_selector: labelsJson(m.sourceSelector),
        routes: m.routes.map((r) => omitEmpty({ destination_selector: labelsJson(r.destinationSelector), weight: r.weight })),
        fallthrough: m.fallthrough,
        metadata: m.metadata === undefined ? undefined : omitEmpty({ labels: labelsJson(m.metadata.labels) }),
      }),
    ),
    path_ids: ns.pathIds,
  });
}

export function nseSpec(nse: NetworkServiceEndpoint): Json {
  return omitEmpty({
    name: nse.name,
    network_service_names: nse.networkServiceNames,
    network_service_labels: Object.fromEntries(Object.entries(nse.networkServiceLabels).map(([svc, l]) => [svc, omitEmpty({ labels: labelsJson(l.labels) })])),
    url: nse.url,
    expiration_time: timestampJson(nse.expirationTime),
    initial_registration_time: timestampJson(nse.initialRegistrationTime),
    path_ids: nse.pathIds,
  });
}

/** A spec field that is not what upstream writes: the object is skipped, with this reason. */
export class MalformedSpec extends Error {}

function field<T, F extends T | undefined>(spec: Json, key: string, check: (v: unknown) => v is T, fallback: F): T | F {
  const v = spec[key];
  if (v === undefined || v === null) return fallback;
  if (!check(v)) throw new MalformedSpec(`spec.${key}: ${JSON.stringify(v)?.slice(0, 60)} is not ${check.name.replace(/^is/, 'a ')}`);
  return v;
}
const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isList = (v: unknown): v is unknown[] => Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isLabels = (v: unknown): v is Record<string, string> => isObject(v) && Object.values(v).every(isString);

function timestamp(spec: Json, key: string): Timestamp | undefined {
  const t = field(spec, key, isObject, undefined);
  if (t === undefined) return undefined;
  return { seconds: field(t, 'seconds', isNumber, 0), nanos: field(t, 'nanos', isNumber, 0) };
}

function specOf(o: KubeObject): Json {
  if (!isObject(o['spec'])) throw new MalformedSpec('spec is not an object');
  return o['spec'];
}

/** The NS a custom resource holds (its name from metadata when spec.name is empty, as upstream); MalformedSpec when it is not one. */
export function nsOf(o: KubeObject): NetworkService {
  const spec = specOf(o);
  const matches = field(spec, 'matches', isList, []).map((m): Match => {
    if (!isObject(m)) throw new MalformedSpec('spec.matches: an entry is not an object');
    const metadata = field(m, 'metadata', isObject, undefined);
    return {
      sourceSelector: field(m, 'source_selector', isLabels, {}),
      routes: field(m, 'routes', isList, []).map((r) => {
        if (!isObject(r)) throw new MalformedSpec('spec.matches.routes: an entry is not an object');
        return { destinationSelector: field(r, 'destination_selector', isLabels, {}), weight: field(r, 'weight', isNumber, 0) };
      }),
      fallthrough: field(m, 'fallthrough', isBoolean, false),
      metadata: metadata === undefined ? undefined : { labels: field(metadata, 'labels', isLabels, {}) },
    };
  });
  return { name: field(spec, 'name', isString, '') || (o.metadata.name ?? ''), payload: field(spec, 'payload', isString, ''), matches, pathIds: field(spec, 'path_ids', isStrings, []) };
}

/** The NSE a custom resource holds; MalformedSpec when it is not one. */
export function nseOf(o: KubeObject): NetworkServiceEndpoint {
  const spec = specOf(o);
  const labels = field(spec, 'network_service_labels', isObject, {});
  const networkServiceLabels: Record<string, NetworkServiceLabels> = {};
  for (const [svc, l] of Object.entries(labels)) {
    if (!isObject(l)) throw new MalformedSpec(`spec.network_service_labels.${svc} is not an object`);
    networkServiceLabels[svc] = { labels: field(l, 'labels', isLabels, {}) };
  }
  return {
    name: field(spec, 'name', isString, '') || (o.metadata.name ?? ''),
    networkServiceNames: field(spec, 'network_service_names', isStrings, []),
    networkServiceLabels,
    url: field(spec, 'url', isString, ''),
    expirationTime: timestamp(spec, 'expiration_time'),
    initialRegistrationTime: timestamp(spec, 'initial_registration_time'),
    pathIds: field(spec, 'path_ids', isStrings, []),
  };
}

/** The custom resource holding `spec` under `name` (empty: `generateName`, as upstream) in `namespace`. */
export function customResource(r: Resource, namespace: string, name: string, spec: Json, generateName: string): KubeObject {
  return { apiVersion: apiVersionOf(r), kind: r.kind, metadata: name === '' ? { generateName, namespace } : { name, namespace }, spec };
}

/** Why Kubernetes would refuse `name` as an object name (a DNS-1123 subdomain), or undefined. */
export function objectNameProblem(name: string): string | undefined {
  if (name.length > 253) return `must be no more than 253 characters (is ${name.length})`;
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name))
    return "must be a lowercase RFC 1123 subdomain: lower case alphanumerics, '-' or '.', starting and ending with an alphanumeric (e.g. 'example.com')";
  return undefined;
}

import { combineLatest, distinctUntilChanged, map, of, scan, type Observable, type OperatorFunction } from 'rxjs';
import { parseYamlStringList } from '../streams/excludedPrefixesFile.js';
import { parseYaml, type YamlValue } from '../streams/yaml.js';
import { IpPool, tryParseCidr, tryParseIp } from '../operators/tools/cidr.js';
import type { InformerView } from './informer.js';
import type { Informers } from './informers.js';
import { configMaps, nodes, services, type KubeObject } from './resource.js';

/** Told about a value that is not a prefix (it is skipped). */
export type Warn = (msg: string, fields: Record<string, unknown>) => void;

export interface ExcludedPrefixesSources {
  /** NSM_EXCLUDED_PREFIXES */
  readonly fixed: readonly string[];
  /** The user ConfigMap: NSM_CONFIG_MAP_NAMESPACE / NSM_CONFIG_MAP_NAME, YAML `prefixes:` under NSM_CONFIG_MAP_KEY. */
  readonly configMap: { readonly namespace: string; readonly name: string; readonly key: string };
}

const one = (view: InformerView<KubeObject>): KubeObject | undefined => view.items.values().next().value;
const data = (cm: KubeObject | undefined, key: string): string | undefined => (cm?.['data'] as Record<string, string> | undefined)?.[key];

/** `x` as a CIDR, or undefined with a warning (upstream's collector skips what is not one). */
function prefixOf(x: string, where: string, warn: Warn): string | undefined {
  const s = x.trim();
  if (tryParseCidr(s)) return s;
  warn('skipping a value that is not an IP prefix', { value: x, from: where });
  return undefined;
}

/** A cluster IP as its host prefix (/32 or /128). */
const hostPrefix = (ip: string): string => (tryParseIp(ip) === undefined ? ip : ip.includes(':') ? `${ip}/128` : `${ip}/32`);

const prefixesOf = (values: readonly string[], where: string, warn: Warn): string[] => values.flatMap((v) => prefixOf(v, where, warn) ?? []);

/** Every Node's `spec.podCIDRs` (or `spec.podCIDR`). */
export function nodePrefixes(view: InformerView<KubeObject>, warn: Warn): string[] {
  return [...view.items.values()].flatMap((n) => {
    const spec = (n['spec'] ?? {}) as { podCIDR?: string; podCIDRs?: string[] };
    return prefixesOf(spec.podCIDRs ?? (spec.podCIDR ? [spec.podCIDR] : []), `node ${n.metadata.name}`, warn);
  });
}

/** Every Service's cluster IPs, each as a host prefix (headless `None` has none). */
export function servicePrefixes(view: InformerView<KubeObject>, warn: Warn): string[] {
  return [...view.items.values()].flatMap((s) => {
    const spec = (s['spec'] ?? {}) as { clusterIP?: string; clusterIPs?: string[] };
    const ips = (spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])).filter((ip) => ip !== 'None' && ip !== '');
    return prefixesOf(ips.map(hostPrefix), `service ${s.metadata.namespace}/${s.metadata.name}`, warn);
  });
}

/**
 * kubeadm's `ClusterConfiguration` (kube-system/kubeadm-config): `networking.podSubnet` and
 * `serviceSubnet`, comma lists for dual stack; [] without the map; undefined (keep the last
 * good list, as upstream) when its YAML is unreadable.
 */
export function kubeadmPrefixes(cm: KubeObject | undefined, warn: Warn): string[] | undefined {
  const text = data(cm, 'ClusterConfiguration');
  if (text === undefined) return [];
  let doc: YamlValue;
  try {
    doc = parseYaml(text);
  } catch (e) {
    warn('skipping kubeadm-config: its ClusterConfiguration is not readable YAML', { why: (e as Error).message });
    return undefined;
  }
  const networking = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? doc['networking'] : undefined;
  if (typeof networking !== 'object' || networking === null || Array.isArray(networking)) return [];
  const subnets = [networking['podSubnet'], networking['serviceSubnet']].flatMap((v) => (typeof v === 'string' ? v.split(',') : []));
  return prefixesOf(subnets, 'kubeadm-config', warn);
}

/**
 * The user ConfigMap's `prefixes:` list under `key`; a deleted map or key clears it; undefined
 * (keep the last good list, as upstream) when its YAML is unreadable.
 */
export function configMapPrefixes(cm: KubeObject | undefined, key: string, warn: Warn): string[] | undefined {
  const text = data(cm, key);
  if (text === undefined) return [];
  try {
    return prefixesOf(parseYamlStringList(text, 'prefixes'), `configmap ${cm?.metadata.namespace}/${cm?.metadata.name}`, warn);
  } catch (e) {
    warn('skipping the excluded-prefixes ConfigMap: not readable YAML', { configMap: `${cm?.metadata.namespace}/${cm?.metadata.name}`, key, why: (e as Error).message });
    return undefined;
  }
}

/** One list: IPv4 then IPv6, overlapping and adjacent prefixes merged (upstream's prefixpool). */
export function mergePrefixes(lists: readonly (readonly string[])[]): string[] {
  const all = lists.flat();
  return [4, 6].flatMap((family) => IpPool.of(family as 4 | 6, all.filter((p) => (family === 4) === !p.includes(':'))).prefixes());
}

/** The file and ConfigMap layout upstream writes (readers accept any case of the key). */
export function formatPrefixes(prefixes: readonly string[]): string {
  return prefixes.length === 0 ? 'Prefixes: []\n' : `Prefixes:\n${prefixes.map((p) => `- ${p}\n`).join('')}`;
}

/**
 * The merged list of prefix sources (each a stream of its current prefixes): nothing until
 * every source has its first value — a partial list would un-exclude the prefixes of the
 * sources still listing — then the merged list each time it differs from the last one.
 *
 * ```
 * env:      e------------
 * nodes:    -n-----n'----   (n' adds nothing new)
 * services: --s--s'------
 * merged:   --p--q-------
 * ```
 */
export function mergedPrefixes(sources: readonly Observable<readonly string[]>[]): Observable<string[]> {
  return combineLatest(sources).pipe(
    map(mergePrefixes),
    distinctUntilChanged((a, b) => a.join() === b.join()),
  );
}

/** A source's latest readable list: an unreadable one (undefined) keeps the list before it. */
export const lastReadable = (): OperatorFunction<readonly string[] | undefined, readonly string[]> => scan((last: readonly string[], next: readonly string[] | undefined) => next ?? last, []);

/**
 * The cluster's excluded prefixes (upstream cmd-exclude-prefixes-k8s): NSM_EXCLUDED_PREFIXES,
 * Nodes' pod CIDRs, Services' cluster IPs, kubeadm's subnets and the user ConfigMap, each an
 * informer view, merged by mergedPrefixes.
 */
export function excludedPrefixes(informers: Informers, sources: ExcludedPrefixesSources, warn: Warn): Observable<string[]> {
  const byName = (namespace: string, name: string) => informers.view<KubeObject>(configMaps, { namespace, fieldSelector: `metadata.name=${name}` }).pipe(map(one));
  return mergedPrefixes([
    of(prefixesOf(sources.fixed, 'NSM_EXCLUDED_PREFIXES', warn)),
    informers.view<KubeObject>(nodes).pipe(map((v) => nodePrefixes(v, warn))),
    informers.view<KubeObject>(services).pipe(map((v) => servicePrefixes(v, warn))),
    byName('kube-system', 'kubeadm-config').pipe(
      map((cm) => kubeadmPrefixes(cm, warn)),
      lastReadable(),
    ),
    byName(sources.configMap.namespace, sources.configMap.name).pipe(
      map((cm) => configMapPrefixes(cm, sources.configMap.key, warn)),
      lastReadable(),
    ),
  ]);
}

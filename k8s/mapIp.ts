import { combineLatest, distinctUntilChanged, map, of, type Observable } from 'rxjs';
import type { Informers } from './informers.js';
import { configMaps, nodes, type KubeObject } from './resource.js';
import { formatStringMap, parseStringMap } from '../streams/yamlMap.js';

interface NodeAddresses {
  readonly internal?: string;
  readonly external?: string;
}

function addressesOf(node: KubeObject): NodeAddresses {
  const list = ((node['status'] as { addresses?: { type: string; address: string }[] } | undefined)?.addresses ?? []);
  return { internal: list.find((a) => a.type === 'InternalIP')?.address, external: list.find((a) => a.type === 'ExternalIP')?.address };
}

/**
 * The address map of upstream cmd-map-ip-k8s: each Node's InternalIP → its ExternalIP (or the
 * InternalIP when it has none), each ExternalIP → itself, and this pod's IP → its own node's
 * external (else internal) address.
 */
export function nodeAddressMap(nodesNow: Iterable<KubeObject>, own: { readonly nodeName: string; readonly podIp: string | undefined }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const node of nodesNow) {
    const { internal, external } = addressesOf(node);
    if (internal) out[internal] = external ?? internal;
    if (external) out[external] = external;
    if (node.metadata.name === own.nodeName && own.podIp && (external ?? internal)) out[own.podIp] = (external ?? internal) as string;
  }
  return out;
}

/** The extra entries of NSM_FROM_CONFIG_MAP: every data value a YAML map; one that is not is skipped with a warning. */
export function configMapEntries(cm: KubeObject | undefined, warn: (msg: string, fields: Record<string, unknown>) => void): Record<string, string> {
  const data = (cm?.['data'] ?? {}) as Record<string, string>;
  return Object.entries(data).reduce<Record<string, string>>((acc, [key, text]) => {
    try {
      return { ...acc, ...parseStringMap(text) };
    } catch (e) {
      warn('skipping a map-ip ConfigMap entry that is not a YAML map', { configMap: `${cm?.metadata.namespace}/${cm?.metadata.name}`, key, why: (e as Error).message });
      return acc;
    }
  }, {});
}

/**
 * The map file's text (YAML `from: to`, keys sorted) from the Nodes' address map and the extra
 * entries (which win on the same key): nothing until both are known, then the text each time it
 * changes — a removed Node or entry leaves the file.
 *
 * ```
 * nodes:  -a---b--c-   (c: a status update with the same addresses)
 * extra:  e--------f
 * text:   -t---u---v
 * ```
 */
export function mapIpText(fromNodes$: Observable<Readonly<Record<string, string>>>, extra$: Observable<Readonly<Record<string, string>>>): Observable<string> {
  return combineLatest([fromNodes$, extra$]).pipe(
    map(([fromNodes, extra]) => formatStringMap({ ...fromNodes, ...extra })),
    distinctUntilChanged(),
  );
}

export interface MapIpSources {
  readonly nodeName: string;
  readonly podIp: string | undefined;
  /** NSM_FROM_CONFIG_MAP in NSM_NAMESPACE: extra entries, each data value a YAML map. */
  readonly fromConfigMap?: { readonly namespace: string; readonly name: string };
}

/** What map-ip-k8s writes (upstream cmd-map-ip-k8s): the Nodes and the extra ConfigMap as informer views → mapIpText. */
export function mapIp(informers: Informers, sources: MapIpSources, warn: (msg: string, fields: Record<string, unknown>) => void): Observable<string> {
  const extra$ = sources.fromConfigMap
    ? informers
        .view<KubeObject>(configMaps, { namespace: sources.fromConfigMap.namespace, fieldSelector: `metadata.name=${sources.fromConfigMap.name}` })
        .pipe(map((v) => configMapEntries(v.items.values().next().value, warn)))
    : of({});
  return mapIpText(informers.view<KubeObject>(nodes).pipe(map((v) => nodeAddressMap(v.items.values(), sources))), extra$);
}

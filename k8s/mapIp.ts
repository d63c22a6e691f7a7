import { combineLatest, distinctUntilChanged, map, of, type Observable } from 'rxjs';
import type { Informers } from './informers.js';
import { configMaps, nodes, type KubeObject } from './resource.js';
import { formatStringMap, parseStringMap } from './yamlMap.js';

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

export interface MapIpSources {
  readonly nodeName: string;
  readonly podIp: string | undefined;
  /** NSM_FROM_CONFIG_MAP in NSM_NAMESPACE: extra entries, each data value a YAML map. */
  readonly fromConfigMap?: { readonly namespace: string; readonly name: string };
}

/**
 * The map-ip file's text (YAML `from: to`), emitted when it changes: Nodes and the extra
 * ConfigMap as informer streams; removed Nodes and entries leave the map.
 */
export function mapIp(informers: Informers, sources: MapIpSources, warn: (msg: string, fields: Record<string, unknown>) => void): Observable<string> {
  const extra$ = sources.fromConfigMap
    ? informers.view<KubeObject>(configMaps, { namespace: sources.fromConfigMap.namespace, fieldSelector: `metadata.name=${sources.fromConfigMap.name}` }).pipe(
        map((v) => {
          const data = ((v.items.values().next().value as KubeObject | undefined)?.['data'] ?? {}) as Record<string, string>;
          return Object.entries(data).reduce<Record<string, string>>((acc, [key, text]) => {
            try {
              return { ...acc, ...parseStringMap(text) };
            } catch (e) {
              warn('skipping a map-ip ConfigMap entry that is not a YAML map', { key, why: (e as Error).message });
              return acc;
            }
          }, {});
        }),
      )
    : of({});
  return combineLatest([informers.view<KubeObject>(nodes).pipe(map((v) => nodeAddressMap(v.items.values(), sources))), extra$]).pipe(
    map(([fromNodes, extra]) => formatStringMap({ ...fromNodes, ...extra })),
    distinctUntilChanged(),
  );
}

/**
 * The Kubernetes kinds nsm-rx reads and writes, as plain JSON shapes: only the fields we use
 * are typed, everything else passes through untouched (objects written back keep it).
 */

export interface ObjectMeta {
  readonly name?: string;
  readonly generateName?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly ownerReferences?: readonly { readonly kind: string; readonly name: string; readonly apiVersion: string }[];
  readonly [field: string]: unknown;
}

export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: ObjectMeta;
  readonly [field: string]: unknown;
}

/** Where a kind lives in the API: `/api/v1` for the core group, `/apis/<group>/<version>` otherwise. */
export interface Resource {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** The lower-case plural of the URL path (`networkserviceendpoints`). */
  readonly plural: string;
  readonly namespaced: boolean;
}

const resource = (group: string, version: string, kind: string, plural: string, namespaced: boolean): Resource => ({ group, version, kind, plural, namespaced });

export const namespaces = resource('', 'v1', 'Namespace', 'namespaces', false);
export const nodes = resource('', 'v1', 'Node', 'nodes', false);
export const services = resource('', 'v1', 'Service', 'services', true);
export const configMaps = resource('', 'v1', 'ConfigMap', 'configmaps', true);
export const pods = resource('', 'v1', 'Pod', 'pods', true);
export const networkServices = resource('networkservicemesh.io', 'v1', 'NetworkService', 'networkservices', true);
export const networkServiceEndpoints = resource('networkservicemesh.io', 'v1', 'NetworkServiceEndpoint', 'networkserviceendpoints', true);
export const clusterProperties = resource('about.k8s.io', 'v1alpha1', 'ClusterProperty', 'clusterproperties', false);
export const mutatingWebhookConfigurations = resource('admissionregistration.k8s.io', 'v1', 'MutatingWebhookConfiguration', 'mutatingwebhookconfigurations', false);

/** `apiVersion` of objects of `r` (`v1`, `networkservicemesh.io/v1`). */
export function apiVersionOf(r: Resource): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** `networkserviceendpoints.networkservicemesh.io`, as Kubernetes names a resource in its messages. */
export function resourceName(r: Resource): string {
  return r.group === '' ? r.plural : `${r.plural}.${r.group}`;
}

/**
 * The URL path of a collection (`name` undefined) or one object. `namespace` undefined on a
 * namespaced kind means every namespace.
 */
export function pathOf(r: Resource, namespace?: string, name?: string): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = r.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${r.plural}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
}

/** The informer key of an object: `namespace/name`, or `name` for a cluster-scoped kind. */
export function keyOf(o: KubeObject): string {
  const { namespace, name } = o.metadata;
  return namespace ? `${namespace}/${name ?? ''}` : (name ?? '');
}

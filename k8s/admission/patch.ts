import { randomUUID } from 'node:crypto';
import type { KubeObject } from '../resource.js';

/** What the webhook injects (NSM_* of upstream cmd-admission-webhook-k8s). */
export interface InjectionConfig {
  /** NSM_ANNOTATION: the annotation holding the network service URLs. */
  readonly annotation: string;
  /** NSM_LABELS: added to the pod template's labels (SPIRE issues SVIDs by label). */
  readonly labels: Readonly<Record<string, string>>;
  /** NSM_NSURL_ENV_NAME: the variable the URLs are passed in. */
  readonly nsurlEnvName: string;
  readonly initContainerImages: readonly string[];
  readonly containerImages: readonly string[];
  /** NSM_ENVS: `K=V` entries given to every injected container. */
  readonly envs: readonly { readonly name: string; readonly value: string }[];
  readonly resources: { readonly limits: Readonly<Record<string, string>>; readonly requests: Readonly<Record<string, string>> };
}

export interface JsonPatchOperation {
  readonly op: 'add';
  readonly path: string;
  readonly value: unknown;
}

/** The pod-security level of a namespace (`pod-security.kubernetes.io/enforce`). */
export type PodSecurityLevel = 'privileged' | 'baseline' | 'restricted';

/** The part of an AdmissionReview request the webhook reads. */
export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: { readonly group?: string; readonly version?: string; readonly kind: string };
  readonly namespace?: string;
  readonly operation: string;
  readonly object?: unknown;
}

/** Where the pod template of each kind lives (a Pod is its own template). */
const templatePaths: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

/** Controllers whose own object was patched already: what they create passes unpatched. */
const ownerPatched: Readonly<Record<string, string>> = { ReplicaSet: 'Deployment', Job: 'CronJob' };

interface Container {
  readonly name: string;
  readonly [field: string]: unknown;
}
interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string>; generateName?: string; name?: string };
  spec?: { initContainers?: Container[]; containers?: Container[]; volumes?: unknown[] };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function at(o: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((cur, key) => (isObject(cur) ? cur[key] : undefined), o);
}

/** `ghcr.io/nsm-rx/nsc:1.0` → `nsc`, as upstream names injected containers. */
export const containerNameOf = (image: string): string => (image.split('/').pop() ?? image).split(':')[0] ?? image;

/** sriovToken=pool counts of the annotation's URLs, as resource limits of the init containers (upstream). */
function sriovLimits(annotation: string): Record<string, string> {
  const counts: Record<string, number> = {};
  for (const raw of annotation.split(',')) {
    const query = raw.split('?')[1];
    const token = query === undefined ? null : new URLSearchParams(query).get('sriovToken');
    if (token) counts[token.split(',')[0] as string] = (counts[token.split(',')[0] as string] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, String(v)]));
}

function injected(image: string, annotation: string, config: InjectionConfig, nsmName: string, level: PodSecurityLevel, extraLimits: Record<string, string>): Container {
  return {
    name: containerNameOf(image),
    image,
    imagePullPolicy: 'IfNotPresent',
    env: [
      ...config.envs,
      { name: 'SPIFFE_ENDPOINT_SOCKET', value: 'unix:///run/spire/sockets/agent.sock' },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: config.nsurlEnvName, value: annotation },
      { name: 'NSM_NAME', value: nsmName },
    ],
    volumeMounts: [
      { name: 'spire-agent-socket', mountPath: '/run/spire/sockets', readOnly: true },
      { name: 'nsm-socket', mountPath: '/var/lib/networkservicemesh', readOnly: true },
    ],
    resources: { limits: { ...config.resources.limits, ...extraLimits }, requests: { ...config.resources.requests } },
    ...(level === 'restricted' ? { securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } } : {}),
  };
}

/** The sockets the injected containers mount: host paths, or CSI drivers where pod security forbids host paths. */
function volumes(level: PodSecurityLevel): unknown[] {
  if (level === 'privileged')
    return [
      { name: 'spire-agent-socket', hostPath: { path: '/run/spire/sockets', type: 'Directory' } },
      { name: 'nsm-socket', hostPath: { path: '/var/lib/networkservicemesh', type: 'Directory' } },
    ];
  return [
    { name: 'spire-agent-socket', csi: { driver: 'csi.spiffe.io', readOnly: true } },
    { name: 'nsm-socket', csi: { driver: 'csi.networkservicemesh.io', readOnly: true } },
  ];
}

/** Why a request passes unpatched (logged), or the template to patch and where it is. */
type Target = { skip: string } | { template: PodTemplate; base: string; annotation: string | undefined };

function targetOf(request: AdmissionRequest, annotationKey: string): Target {
  if (request.operation !== 'CREATE') return { skip: `operation ${request.operation}` };
  const path = templatePaths[request.kind.kind];
  if (path === undefined) return { skip: `kind ${request.kind.kind}` };
  const object = request.object;
  if (!isObject(object)) return { skip: 'no object' };
  const found = path.length === 0 ? object : at(object, path);
  if (!isObject(found) || (found['spec'] !== undefined && !isObject(found['spec']))) return { skip: 'no pod template' };
  const template = found as PodTemplate;
  const meta = (object as KubeObject).metadata;
  const owner = ownerPatched[request.kind.kind];
  if (owner !== undefined && meta?.ownerReferences?.some((o) => o.kind === owner)) return { skip: `owned by a ${owner}, patched there` };
  const base = path.length === 0 ? '' : `/${path.join('/')}`;
  if (path.length === 0) return { template, base, annotation: template.metadata?.annotations?.[annotationKey] };
  // A workload carries the annotation on itself, and only when its template has none (upstream).
  if (template.metadata?.annotations !== undefined && Object.keys(template.metadata.annotations).length > 0) return { skip: 'annotations on both the workload and its template' };
  return { template, base, annotation: meta?.annotations?.[annotationKey] };
}

/**
 * The JSONPatch of one AdmissionReview request, as upstream's webhook makes it: for a CREATE of a
 * Pod or a workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob) carrying the
 * annotation (a Pod without one inherits its Namespace's), four `add` operations on the pod
 * template — init containers (nsc-init), containers (the nsc sidecar) with the network services
 * in their environment, the socket volumes (host paths, or CSI drivers when the namespace's pod
 * security is baseline or restricted) and the labels. A template that already holds a container
 * of an injected image's name passes unpatched. `namespace` answers the namespace's annotations
 * and labels. Returns the patch, or why there is none.
 */
export function admissionPatch(
  request: AdmissionRequest,
  config: InjectionConfig,
  namespace: (name: string) => { annotations: Readonly<Record<string, string>>; labels: Readonly<Record<string, string>> } | undefined,
): { patch: JsonPatchOperation[] } | { skip: string } {
  const target = targetOf(request, config.annotation);
  if ('skip' in target) return target;
  const ns = request.namespace === undefined ? undefined : namespace(request.namespace);
  const annotation = target.annotation || (request.kind.kind === 'Pod' ? ns?.annotations[config.annotation] : undefined);
  if (!annotation) return { skip: 'no annotation' };
  const enforce = ns?.labels['pod-security.kubernetes.io/enforce'];
  const level: PodSecurityLevel = enforce === 'baseline' || enforce === 'restricted' ? enforce : 'privileged';
  const { template, base } = target;
  // A Pod made from a template this webhook patched (an annotated Deployment in an annotated
  // Namespace) has its sidecar already: a second one would be a duplicate name the apiserver refuses.
  const injectedNames = new Set([...config.initContainerImages, ...config.containerImages].map(containerNameOf));
  const present = [...(template.spec?.initContainers ?? []), ...(template.spec?.containers ?? [])].find((c) => injectedNames.has(c.name));
  if (present !== undefined) return { skip: `container ${present.name} already there` };
  // As upstream: a template without generateName (a bare Pod, whose name may come back; any
  // workload's template) gets a fresh suffix.
  const nsmName = template.metadata?.generateName ? '$(POD_NAME)' : `$(POD_NAME)-${randomUUID()}`;
  const sriov = sriovLimits(annotation);
  return {
    patch: [
      { op: 'add', path: `${base}/spec/initContainers`, value: [...(template.spec?.initContainers ?? []), ...config.initContainerImages.map((img) => injected(img, annotation, config, nsmName, level, sriov))] },
      { op: 'add', path: `${base}/spec/containers`, value: [...(template.spec?.containers ?? []), ...config.containerImages.map((img) => injected(img, annotation, config, nsmName, level, {}))] },
      { op: 'add', path: `${base}/spec/volumes`, value: [...(template.spec?.volumes ?? []), ...volumes(level)] },
      template.metadata === undefined
        ? { op: 'add', path: `${base}/metadata`, value: { labels: { ...config.labels } } }
        : { op: 'add', path: `${base}/metadata/labels`, value: { ...(template.metadata.labels ?? {}), ...config.labels } },
    ],
  };
}

/**
 * The component registry: `nsm-rx <name>` → the module implementing it. Names are the upstream
 * cmd-* repository names without `cmd-` (nsmgr, registry-memory, forwarder-kernel, …) plus
 * `mesh`, the local demo mesh behind `npm start`.
 *
 * Modules are imported lazily so `nsm-rx --help` and every component start without loading the
 * others (gRPC, k8s clients, dataplane code). The summary lives here, not in the module, so the
 * component list needs no import at all.
 */

import type { Component } from './component.js';

export interface ComponentEntry {
  readonly summary: string;
  readonly load: () => Promise<Component>;
}

export type Registry = Readonly<Record<string, ComponentEntry>>;

/**
 * Only components that exist are listed. Add one as
 * `nsmgr: { summary: '…', load: () => import('../nsmgr/main.js').then((m) => m.component) }`.
 */
export const components: Registry = {
  'admission-webhook-k8s': {
    summary: 'injects the nsc and nsc-init into annotated Pods and workloads (upstream cmd-admission-webhook-k8s)',
    load: () => import('../admission-webhook-k8s/main.js').then((m) => m.component),
  },
  connections: {
    summary: 'a live view of the connections of the given nsmgrs (MonitorConnections)',
    load: () => import('../connections/main.js').then((m) => m.component),
  },
  'cluster-info-k8s': {
    summary: 'writes ClusterProperty values into the cluster-info ConfigMap (upstream cmd-cluster-info-k8s)',
    load: () => import('../cluster-info-k8s/main.js').then((m) => m.component),
  },
  dashboard: {
    summary: 'the mesh as a live graph in a browser (MonitorConnections and registry watches; upstream dashboard-backend REST)',
    load: () => import('../dashboard/main.js').then((m) => m.component),
  },
  'exclude-prefixes-k8s': {
    summary: 'writes the cluster’s pod and service prefixes for the nsmgr’s excluded prefixes (upstream cmd-exclude-prefixes-k8s)',
    load: () => import('../exclude-prefixes-k8s/main.js').then((m) => m.component),
  },
  'forwarder-kernel': {
    summary: 'the forwarder on the Linux kernel: veth and VXLAN, no daemon (needs root)',
    load: () => import('../forwarder-kernel/main.js').then((m) => m.component),
  },
  'forwarder-ovs': {
    summary: 'the forwarder on Open vSwitch: veth ports and VXLAN joined by flows (needs root and openvswitch-switch)',
    load: () => import('../forwarder-ovs/main.js').then((m) => m.component),
  },
  'forwarder-noop': {
    summary: 'a forwarder without a datapath (control plane only: tests, meshes without root)',
    load: () => import('../forwarder-noop/main.js').then((m) => m.component),
  },
  identity: {
    summary: 'a SPIFFE identity provider: local CA serving the Workload API (in place of a SPIRE agent)',
    load: () => import('../identity/main.js').then((m) => m.component),
  },
  nsc: {
    summary: 'a client keeping connections to network services (upstream cmd-nsc)',
    load: () => import('../nsc/main.js').then((m) => m.component),
  },
  'nsc-init': {
    summary: 'requests the connections and exits, leaving them for the nsc (upstream cmd-nsc-init)',
    load: () => import('../nsc-init/main.js').then((m) => m.component),
  },
  'nse-icmp-responder': {
    summary: 'an endpoint handing out point-to-point addresses (upstream cmd-nse-icmp-responder)',
    load: () => import('../nse-icmp-responder/main.js').then((m) => m.component),
  },
  'nse-vl3': {
    summary: 'a vl3 endpoint: one flat L3 network for every client of its service (upstream cmd-nse-vl3-vpp, kernel datapath)',
    load: () => import('../nse-vl3/main.js').then((m) => m.component),
  },
  node: {
    summary: 'nsmgr and forwarder-kernel in one process (NSM_FORWARDER_NAME names the forwarder)',
    load: () => import('../node/main.js').then((m) => m.component),
  },
  nsmgr: {
    summary: 'the node manager: forwarder selection, registry proxy, monitor (upstream cmd-nsmgr)',
    load: () => import('../nsmgr/main.js').then((m) => m.component),
  },
  'registry-memory': {
    summary: 'NS and NSE registries in memory (upstream cmd-registry-memory)',
    load: () => import('../registry-memory/main.js').then((m) => m.component),
  },
  'registry-proxy-dns': {
    summary: 'forwards name@domain registry calls to that domain’s registry, found through DNS (upstream cmd-registry-proxy-dns)',
    load: () => import('../registry-proxy-dns/main.js').then((m) => m.component),
  },
  'nsmgr-proxy': {
    summary: 'the hop between domains: interdomain Requests and registrations (upstream cmd-nsmgr-proxy)',
    load: () => import('../nsmgr-proxy/main.js').then((m) => m.component),
  },
  'registry-k8s': {
    summary: 'NS and NSE registries as Kubernetes custom resources (upstream cmd-registry-k8s)',
    load: () => import('../registry-k8s/main.js').then((m) => m.component),
  },
  'ipam-vl3': {
    summary: 'the vl3 prefix server: a block of the vl3 network per vl3 NSE (upstream cmd-ipam-vl3)',
    load: () => import('../ipam-vl3/main.js').then((m) => m.component),
  },
  'map-ip-k8s': {
    summary: 'writes the Nodes’ internal → external address map (upstream cmd-map-ip-k8s)',
    load: () => import('../map-ip-k8s/main.js').then((m) => m.component),
  },
  mesh: {
    summary: 'local mesh: registry, nsmgr, forwarder, NSE and nsc over gRPC (what npm start runs)',
    load: () => import('../mesh/main.js').then((m) => m.component),
  },
};

/** Looks a name up without falling into Object.prototype (`nsm-rx constructor`). */
export function findComponent(registry: Registry, name: string): ComponentEntry | undefined {
  return Object.hasOwn(registry, name) ? registry[name] : undefined;
}

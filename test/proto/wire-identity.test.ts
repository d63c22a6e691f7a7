// Our proto/ copies must stay wire-identical to the upstream NSM API (reference/nsm-api), since
// nsm-rx talks to upstream Go components. Both sets are parsed with protobufjs and flattened to
// "key → value" lines; any line present on one side only, or with another value, is a difference.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const refApi = path.resolve(repoRoot, '../shared/reference/nsm-api/pkg/api');
const apiFolders = ['networkservice', 'registry', 'ipam'];
const apiFiles = ['connectioncontext.proto', 'connection.proto', 'networkservice.proto', 'registry.proto', 'ipam.proto'];

/** Loads files by bare name, the way upstream compiles them (`protoc -I <folder>` per folder). */
function loadProtos(folders: string[], files: string[]): protobuf.Root {
  const root = new protobuf.Root();
  // google/protobuf/* never reach here: protobufjs serves its bundled copies first.
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    const hit = folders.map((f) => path.join(f, target)).find((p) => existsSync(p));
    if (!hit) throw new Error(`import "${target}" not found in ${folders.join(', ')}`);
    return hit;
  };
  // keepCase: compare proto field names (nextHop vs next_hop matters for JSON), not camelCased ones.
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  return root;
}

const fq = (o: protobuf.ReflectionObject) => o.fullName.replace(/^\./, '');

function fieldLabel(f: protobuf.Field): string {
  if (f instanceof protobuf.MapField) return `map<${f.keyType}>`;
  // packed only changes the wire for numeric scalars; strings and messages are never packed.
  if (f.repeated) return f.type in protobuf.types.packed ? `repeated ${f.packed ? 'packed' : 'unpacked'}` : 'repeated';
  if (f.required) return 'required';
  if (f.options?.['proto3_optional']) return 'optional';
  return f.partOf ? `oneof ${f.partOf.name}` : 'singular';
}

/** Every wire-relevant fact of the schema as "key → value" entries. */
function flatten(root: protobuf.Root): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const o of ns.nestedArray) {
      if (o instanceof protobuf.Type) {
        out.set(`message ${fq(o)}`, 'message');
        for (const f of o.fieldsArray) {
          const type = f.resolvedType ? fq(f.resolvedType) : f.type;
          out.set(`field ${fq(o)}.${f.name}`, `#${f.id} ${fieldLabel(f)} ${type}`);
        }
        if (o.reserved?.length) out.set(`reserved ${fq(o)}`, JSON.stringify(o.reserved));
      } else if (o instanceof protobuf.Enum) {
        out.set(`enum ${fq(o)}`, 'enum');
        for (const [name, num] of Object.entries(o.values)) out.set(`enum value ${fq(o)}.${name}`, `${num}`);
      } else if (o instanceof protobuf.Service) {
        out.set(`service ${fq(o)}`, 'service');
        for (const m of o.methodsArray) {
          const req = `${m.requestStream ? 'stream ' : ''}${fq(m.resolvedRequestType!)}`;
          const res = `${m.responseStream ? 'stream ' : ''}${fq(m.resolvedResponseType!)}`;
          out.set(`rpc /${fq(o)}/${m.name}`, `${req} -> ${res}`);
        }
      }
      if (o instanceof protobuf.Namespace) walk(o); // packages, nested messages/enums
    }
  };
  walk(root);
  return out;
}

/** Human-readable differences: "- ours" / "+ reference" style, empty when identical. */
function diff(ours: Map<string, string>, ref: Map<string, string>): string[] {
  const keys = [...new Set([...ours.keys(), ...ref.keys()])].sort();
  const lines: string[] = [];
  for (const k of keys) {
    const a = ours.get(k);
    const b = ref.get(k);
    if (a === b) continue;
    lines.push(`${k}: ours=${a ?? '(missing)'} reference=${b ?? '(missing)'}`);
  }
  return lines;
}

const loadOurs = () => loadProtos(apiFolders.map((f) => path.join(repoRoot, 'proto', f)), apiFiles);
const loadRef = () => loadProtos(apiFolders.map((f) => path.join(refApi, f)), apiFiles);

describe('proto wire identity with reference/nsm-api', () => {
  const ours = flatten(loadOurs());
  const ref = flatten(loadRef());

  it('has the same messages, fields, enums and rpcs as the reference', () => {
    expect(diff(ours, ref)).toEqual([]);
  });

  it('comparison is not vacuous: it sees real content and reports mutations', () => {
    // Would pass trivially if both loads came back empty.
    expect(ours.get('field connection.Connection.path')).toBe('#6 singular connection.Path');
    expect(ours.get('field registry.NetworkServiceEndpoint.network_service_labels')).toBe(
      '#3 map<string> registry.NetworkServiceLabels',
    );
    const mutated = loadOurs();
    mutated.lookupType('ipam.PrefixResponse').fields['prefix']!.id = 1;
    mutated.lookupEnum('connection.State').remove('DOWN').add('DOWN', 7);
    mutated.lookupService('ipam.IPAM').methods['ManagePrefixes']!.responseStream = false;
    const params = mutated.lookupType('connection.Mechanism').fields['parameters'];
    if (!(params instanceof protobuf.MapField)) throw new Error('Mechanism.parameters should be a map');
    params.keyType = 'int32';
    mutated.lookupType('connectioncontext.IPContext').fields['src_ip_addrs']!.repeated = false;
    mutated.lookupType('registry.Metadata').remove(mutated.lookupType('registry.Metadata').fields['labels']!);
    mutated.lookupType('connectioncontext.EthernetContext').fields['vlan_tag']!.type = 'uint32';
    (mutated.lookup('registry') as protobuf.Namespace).add(new protobuf.Type('Extra'));
    expect(diff(flatten(mutated), ref)).toEqual([
      'enum value connection.State.DOWN: ours=7 reference=1',
      'field connection.Mechanism.parameters: ours=#3 map<int32> string reference=#3 map<string> string',
      'field connectioncontext.EthernetContext.vlan_tag: ours=#3 singular uint32 reference=#3 singular int32',
      'field connectioncontext.IPContext.src_ip_addrs: ours=#1 singular string reference=#1 repeated string',
      'field ipam.PrefixResponse.prefix: ours=#1 singular string reference=#2 singular string',
      'field registry.Metadata.labels: ours=(missing) reference=#1 map<string> string',
      'message registry.Extra: ours=message reference=(missing)',
      'rpc /ipam.IPAM/ManagePrefixes: ours=stream ipam.PrefixRequest -> ipam.PrefixResponse reference=stream ipam.PrefixRequest -> stream ipam.PrefixResponse',
    ]);
  });

  it('serves every method path listed in nsm-api-notes.md §2', () => {
    // Copied from the notes' table; these paths are what upstream Go clients dial.
    const expected: Record<string, string> = {
      '/networkservice.NetworkService/Request': 'networkservice.NetworkServiceRequest -> connection.Connection',
      '/networkservice.NetworkService/Close': 'connection.Connection -> google.protobuf.Empty',
      '/connection.MonitorConnection/MonitorConnections':
        'connection.MonitorScopeSelector -> stream connection.ConnectionEvent',
      '/registry.NetworkServiceEndpointRegistry/Register': 'registry.NetworkServiceEndpoint -> registry.NetworkServiceEndpoint',
      '/registry.NetworkServiceEndpointRegistry/Find':
        'registry.NetworkServiceEndpointQuery -> stream registry.NetworkServiceEndpointResponse',
      '/registry.NetworkServiceEndpointRegistry/Unregister': 'registry.NetworkServiceEndpoint -> google.protobuf.Empty',
      '/registry.NetworkServiceRegistry/Register': 'registry.NetworkService -> registry.NetworkService',
      '/registry.NetworkServiceRegistry/Find': 'registry.NetworkServiceQuery -> stream registry.NetworkServiceResponse',
      '/registry.NetworkServiceRegistry/Unregister': 'registry.NetworkService -> google.protobuf.Empty',
      '/ipam.IPAM/ManagePrefixes': 'stream ipam.PrefixRequest -> stream ipam.PrefixResponse',
    };
    const rpcs = Object.fromEntries([...ours].filter(([k]) => k.startsWith('rpc ')).map(([k, v]) => [k.slice(4), v]));
    // Exact equality: the notes call this list complete, so an extra rpc is a difference too.
    expect(rpcs).toEqual(expected);
  });
});

describe('grpc.health.v1 (our own health.proto)', () => {
  it('matches the standard gRPC health checking protocol', () => {
    const health = flatten(loadProtos([path.join(repoRoot, 'proto/grpc/health/v1')], ['health.proto']));
    expect(Object.fromEntries(health)).toEqual({
      'message grpc.health.v1.HealthCheckRequest': 'message',
      'field grpc.health.v1.HealthCheckRequest.service': '#1 singular string',
      'message grpc.health.v1.HealthCheckResponse': 'message',
      'field grpc.health.v1.HealthCheckResponse.status': '#1 singular grpc.health.v1.HealthCheckResponse.ServingStatus',
      'enum grpc.health.v1.HealthCheckResponse.ServingStatus': 'enum',
      'enum value grpc.health.v1.HealthCheckResponse.ServingStatus.UNKNOWN': '0',
      'enum value grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING': '1',
      'enum value grpc.health.v1.HealthCheckResponse.ServingStatus.NOT_SERVING': '2',
      'enum value grpc.health.v1.HealthCheckResponse.ServingStatus.SERVICE_UNKNOWN': '3',
      'service grpc.health.v1.Health': 'service',
      'rpc /grpc.health.v1.Health/Check': 'grpc.health.v1.HealthCheckRequest -> grpc.health.v1.HealthCheckResponse',
      'rpc /grpc.health.v1.Health/Watch': 'grpc.health.v1.HealthCheckRequest -> stream grpc.health.v1.HealthCheckResponse',
    });
  });
});

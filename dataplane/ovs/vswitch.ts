import type { OvsdbClient, OvsdbOperation, OvsdbValue } from './ovsdb.js';

const DB = 'Open_vSwitch';

/** OVSDB's wire forms of sets, maps and references (RFC 7047 §5.1). */
export const ovsSet = (items: readonly unknown[]): OvsdbValue => ['set', items];
export const ovsMap = (entries: Readonly<Record<string, string>>): OvsdbValue => ['map', Object.entries(entries)];
export const namedUuid = (name: string): OvsdbValue => ['named-uuid', name];
export const uuid = (id: string): OvsdbValue => ['uuid', id];

/** The members of an OVSDB set value (a single member may come bare). */
export function setMembers(value: OvsdbValue | undefined): unknown[] {
  if (Array.isArray(value) && value[0] === 'set') return [...(value[1] as unknown[])];
  return value === undefined ? [] : [value];
}

/** An OVSDB map value as a record. */
export function mapEntries(value: OvsdbValue | undefined): Record<string, string> {
  return Array.isArray(value) && value[0] === 'map' ? Object.fromEntries(value[1] as [string, string][]) : {};
}

/** A port to add: its interface's name, type (`''` a system device, `internal`, …), options and owner marks. */
export interface PortSpec {
  readonly name: string;
  readonly type?: string;
  readonly options?: Readonly<Record<string, string>>;
  /** Kept on the Port and its Interface (e.g. which forwarder and connection made it). */
  readonly externalIds?: Readonly<Record<string, string>>;
}

/** The operations that insert port `p` (Interface and Port) into `bridge`, as upstream ovs-vsctl add-port does. */
function insertPort(bridge: string, p: PortSpec): OvsdbOperation[] {
  const ids = ovsMap(p.externalIds ?? {});
  return [
    { op: 'insert', table: 'Interface', row: { name: p.name, type: p.type ?? '', options: ovsMap(p.options ?? {}), external_ids: ids }, 'uuid-name': 'iface' },
    { op: 'insert', table: 'Port', row: { name: p.name, interfaces: namedUuid('iface'), external_ids: ids }, 'uuid-name': 'port' },
    { op: 'mutate', table: 'Bridge', where: [['name', '==', bridge]], mutations: [['ports', 'insert', ovsSet([namedUuid('port')])]] },
  ];
}

/** Tells ovs-vswitchd to apply the configuration (what it acknowledges by raising cur_cfg). */
const bumpConfig: OvsdbOperation = { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] };

/**
 * Makes sure bridge `name` exists (with its internal port, as ovs-vsctl add-br), on the
 * `datapathType` given (`netdev`: the userspace datapath; `system`: the kernel module's). An
 * existing bridge is left as it is. Returns whether it was created.
 */
export async function ensureBridge(client: OvsdbClient, name: string, datapathType: string): Promise<boolean> {
  const [found] = await client.transact(DB, [{ op: 'select', table: 'Bridge', where: [['name', '==', name]], columns: ['name'] }]);
  if (((found?.['rows'] as unknown[] | undefined) ?? []).length > 0) return false;
  await client.transact(DB, [
    { op: 'insert', table: 'Interface', row: { name, type: 'internal' }, 'uuid-name': 'iface' },
    { op: 'insert', table: 'Port', row: { name, interfaces: namedUuid('iface') }, 'uuid-name': 'port' },
    { op: 'insert', table: 'Bridge', row: { name, ports: namedUuid('port'), datapath_type: datapathType, fail_mode: 'secure' }, 'uuid-name': 'bridge' },
    { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', ovsSet([namedUuid('bridge')])]] },
    bumpConfig,
  ]);
  return true;
}

/**
 * Adds port `p` to `bridge` in one transaction; a port of that name already there fails it
 * (OVSDB's `timed out` from the guard, reported as "port … exists").
 */
export async function addPort(client: OvsdbClient, bridge: string, p: PortSpec): Promise<void> {
  const guard: OvsdbOperation = { op: 'wait', table: 'Port', where: [['name', '==', p.name]], columns: ['name'], until: '==', rows: [], timeout: 0 };
  await client.transact(DB, [guard, ...insertPort(bridge, p), bumpConfig]).catch((e: unknown) => {
    throw e instanceof Error && /timed out/.test(e.message) ? new Error(`OVS port "${p.name}" exists already on some bridge`) : e;
  });
}

/** Removes the ports named `names` from `bridge` (their rows go with the last reference); unknown names are ignored. */
export async function deletePorts(client: OvsdbClient, bridge: string, names: readonly string[]): Promise<number> {
  if (names.length === 0) return 0;
  const found = await client.transact(DB, names.map((name) => ({ op: 'select', table: 'Port', where: [['name', '==', name]], columns: ['_uuid'] })));
  const rows = found.flatMap((f) => (f['rows'] as { _uuid: OvsdbValue }[] | undefined) ?? []);
  if (rows.length === 0) return 0;
  await client.transact(DB, [{ op: 'mutate', table: 'Bridge', where: [['name', '==', bridge]], mutations: [['ports', 'delete', ovsSet(rows.map((r) => r._uuid))]] }, bumpConfig]);
  return rows.length;
}

/**
 * Waits until ovs-vswitchd has applied every configuration asked of it so far (cur_cfg reaches
 * next_cfg, as ovs-vsctl waits): only then do new bridges have their management socket and new
 * ports their OpenFlow numbers. An ovs-vswitchd that does not answer within `timeoutMs` fails it.
 */
export async function vswitchdApplied(client: OvsdbClient, timeoutMs = 5000): Promise<void> {
  const cfg = async () => {
    const [found] = await client.transact(DB, [{ op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg', 'cur_cfg'] }]);
    const row = (found?.['rows'] as { next_cfg: number; cur_cfg: number }[] | undefined)?.[0];
    return { next: row?.next_cfg ?? 0, cur: row?.cur_cfg ?? 0 };
  };
  const { next, cur } = await cfg();
  if (cur >= next) return;
  // ovsdb-server holds the wait until cur_cfg is `next`; a later configuration may pass it meanwhile.
  const waited = await client
    .transact(DB, [{ op: 'wait', table: 'Open_vSwitch', where: [], columns: ['cur_cfg'], until: '==', rows: [{ cur_cfg: next }], timeout: timeoutMs }])
    .then(() => true, (e: unknown) => (e instanceof Error && /timed out/.test(e.message) ? false : Promise.reject(e)));
  if (waited) return;
  const now = await cfg();
  if (now.cur < next) throw new Error(`ovs-vswitchd has not applied OVSDB configuration ${next} within ${timeoutMs} ms (it is at ${now.cur}): is ovs-vswitchd running against this ovsdb-server?`);
}

/** The switch-wide other_config (e.g. `userspace-tso-enable`, which ovs-vswitchd reads when it starts). */
export async function otherConfig(client: OvsdbClient): Promise<Record<string, string>> {
  const [found] = await client.transact(DB, [{ op: 'select', table: 'Open_vSwitch', where: [], columns: ['other_config'] }]);
  return mapEntries((found?.['rows'] as { other_config: OvsdbValue }[] | undefined)?.[0]?.other_config);
}

/** The names of the ports whose external_ids hold `key` = `value` (e.g. a forwarder's own, left by its predecessor). */
export async function portsMarked(client: OvsdbClient, key: string, value: string): Promise<string[]> {
  const [found] = await client.transact(DB, [{ op: 'select', table: 'Port', where: [['external_ids', 'includes', ovsMap({ [key]: value })]], columns: ['name'] }]);
  return ((found?.['rows'] as { name: string }[] | undefined) ?? []).map((r) => r.name).sort();
}

import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { firstValueFrom } from 'rxjs';
import { filter } from 'rxjs/operators';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeOvs, startOvsdbServer, type OvsdbServer } from '../../test/ovs/ovsdbServer.js';
import { OvsdbClient, OvsdbConnectionError, OvsdbError } from './ovsdb.js';
import { OvsdbSession } from './ovsdbSession.js';
import { ovsdbTables, type TableRows } from './ovsdbTables.js';
import { addPort, deletePorts, ensureBridge, portsMarked, vswitchdApplied } from './vswitch.js';

const bridges = (view: TableRows) => [...(view.get('Bridge')?.values() ?? [])].map((r) => r['name']).sort();

describeOvs('OVSDB client against a real ovsdb-server', () => {
  let server: OvsdbServer;
  const clients: OvsdbClient[] = [];
  const connect = async () => {
    const c = await OvsdbClient.connect(server.url);
    clients.push(c);
    return c;
  };
  beforeEach(async () => {
    server = await startOvsdbServer();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await server.remove();
  });

  it('list_dbs and get_schema answer as ovsdb-server does', async () => {
    const c = await connect();
    expect(await c.listDbs()).toEqual(expect.arrayContaining(['Open_vSwitch', '_Server']));
    const schema = await c.getSchema('Open_vSwitch');
    expect(schema.name).toBe('Open_vSwitch');
    expect(Object.keys(schema.tables)).toEqual(expect.arrayContaining(['Bridge', 'Port', 'Interface', 'Open_vSwitch']));
  });

  it('bridge and ports: created once, marked ports found by their mark, a second port of a name refused, deleted', async () => {
    const c = await connect();
    await c.transact('Open_vSwitch', [{ op: 'insert', table: 'Open_vSwitch', row: {} }]); // ovs-vsctl init
    expect(await ensureBridge(c, 'br-nsm', 'netdev')).toBe(true);
    expect(await ensureBridge(c, 'br-nsm', 'netdev')).toBe(false);
    await addPort(c, 'br-nsm', { name: 'veth-a', externalIds: { 'nsm-rx-forwarder': 'f1', connection: 'c1' } });
    await addPort(c, 'br-nsm', { name: 'vxlan-b', type: 'vxlan', options: { remote_ip: '169.254.250.2', key: '7' }, externalIds: { 'nsm-rx-forwarder': 'f1' } });
    await addPort(c, 'br-nsm', { name: 'other', externalIds: { 'nsm-rx-forwarder': 'f2' } });
    expect(await portsMarked(c, 'nsm-rx-forwarder', 'f1')).toEqual(['veth-a', 'vxlan-b']);
    await expect(addPort(c, 'br-nsm', { name: 'veth-a' })).rejects.toThrow('OVS port "veth-a" exists already on some bridge');
    expect(await deletePorts(c, 'br-nsm', ['veth-a', 'vxlan-b', 'unknown'])).toBe(2);
    expect(await portsMarked(c, 'nsm-rx-forwarder', 'f1')).toEqual([]);
    expect(await portsMarked(c, 'nsm-rx-forwarder', 'f2')).toEqual(['other']);
    // No ovs-vswitchd takes this configuration: waiting for it says so instead of hanging.
    await expect(vswitchdApplied(c, 200)).rejects.toThrow(/^ovs-vswitchd has not applied OVSDB configuration \d+ within 200 ms \(it is at 0\): is ovs-vswitchd running/);
  });

  it('a failing operation: OVSDB’s own error text naming the operation, and nothing of the transaction committed', async () => {
    const c = await connect();
    const failing = c.transact('Open_vSwitch', [
      { op: 'insert', table: 'Bridge', row: { name: 'kept-out' } },
      { op: 'insert', table: 'NoSuchTable', row: {} },
    ]);
    await expect(failing).rejects.toThrow(OvsdbError);
    await expect(failing).rejects.toThrow('transact Open_vSwitch: operation 1 (insert NoSuchTable): syntax error (Parsing ovsdb operation 2 of 2 failed: No table named NoSuchTable.)');
    const [rows] = await c.transact('Open_vSwitch', [{ op: 'select', table: 'Bridge', where: [] }]);
    expect(rows?.['rows']).toEqual([]);
    await expect(c.call('no_such_method', [])).rejects.toThrow(/no_such_method: unknown method/);
  });

  it('a monitored view: the current rows, then changes; after ovsdb-server restarts, a whole fresh view and changes again', async () => {
    const writer = await connect();
    await writer.transact('Open_vSwitch', [{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
    await ensureBridge(writer, 'br-a', 'netdev');
    const views: TableRows[] = [];
    const sub = ovsdbTables(() => connect(), 'Open_vSwitch', { Bridge: ['name'] }, { retryMs: 100 }).subscribe((v) => views.push(v));
    try {
      await expect.poll(() => views.map(bridges).at(-1)).toEqual(['br-a']);
      await ensureBridge(writer, 'br-b', 'netdev');
      await expect.poll(() => views.map(bridges).at(-1)).toEqual(['br-a', 'br-b']);
      await server.kill();
      await server.start();
      const fresh = views.length;
      const again = await connect();
      await ensureBridge(again, 'br-c', 'netdev');
      await expect.poll(() => views.map(bridges).at(-1), { timeout: 5000 }).toEqual(['br-a', 'br-b', 'br-c']);
      expect(views.length).toBeGreaterThan(fresh);
    } finally {
      sub.unsubscribe();
    }
  });

  it('nobody there: OvsdbConnectionError naming the address; a bad address names the forms it takes', async () => {
    await expect(OvsdbClient.connect(`unix:${join(server.dir, 'nothing.sock')}`)).rejects.toThrow(OvsdbConnectionError);
    await expect(OvsdbClient.connect(`unix:${join(server.dir, 'nothing.sock')}`)).rejects.toThrow(/cannot connect to OVSDB unix:.*nothing\.sock/);
    await expect(OvsdbClient.connect('db.sock')).rejects.toThrow('OVSDB address "db.sock": expected unix:<path> or tcp:<host>:<port>');
  });

  it('a server that stops answering: the echo probe drops the connection and calls in flight fail', async () => {
    const silent: Server = createServer((socket) => socket.resume()); // reads, never answers
    const path = join(server.dir, 'silent.sock');
    await new Promise<void>((r) => silent.listen(path, () => r()));
    try {
      const c = await OvsdbClient.connect(`unix:${path}`, { echoInterval: 100 });
      const call = c.listDbs();
      await expect(call).rejects.toThrow(/no answer to echo within 100 ms/);
      expect((await c.closed).message).toMatch(/no answer to echo/);
    } finally {
      await new Promise((r) => silent.close(r));
    }
  });

  it('ovsdb-server’s own echo is answered (the connection stays)', async () => {
    const c = await connect();
    expect(await c.call('echo', ['x', 1])).toEqual(['x', 1]);
    await c.transact('Open_vSwitch', [{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
    await firstValueFrom(ovsdbTables(async () => c, 'Open_vSwitch', { Open_vSwitch: [] }).pipe(filter((v) => (v.get('Open_vSwitch')?.size ?? 0) === 1)));
  });

  it('a session waits for ovsdb-server (each failed try told), connects when it is back, and connects again after it restarts', async () => {
    await server.kill();
    const tries: string[] = [];
    const session = new OvsdbSession(server.url, { retryMs: 50, onRetry: (e) => tries.push(String(e)) });
    try {
      const first = session.client();
      await expect.poll(() => tries.length).toBeGreaterThan(1);
      expect(tries[0]).toMatch(/cannot connect to OVSDB unix:/);
      await server.start();
      expect(await (await first).listDbs()).toContain('Open_vSwitch');
      await server.kill();
      await (await first).closed;
      await server.start();
      const second = await session.client();
      expect(second).not.toBe(await first);
      expect(await second.listDbs()).toContain('Open_vSwitch');
    } finally {
      await session.close();
    }
  });
});

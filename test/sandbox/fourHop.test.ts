import { describe, expect, it } from 'vitest';
import { useSandbox } from './harness.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };

describe('4-hop chain over gRPC (nsc → nsmgr → forwarder → nse)', () => {
  const h = useSandbox();

  async function mesh() {
    const sandbox = h.sandbox;
    const nse = await sandbox.endpoint('nse');
    const forwarder = await sandbox.passthrough('forwarder', nse.url);
    const nsmgr = await sandbox.passthrough('nsmgr', forwarder.url);
    const nsc = sandbox.client('nsc', nsmgr.url);
    return { nse, forwarder, nsmgr, nsc };
  }

  it('returns the connection with 4 path segments, own id and index 0, and Close reaches every hop', async () => {
    const { nse, forwarder, nsmgr, nsc } = await mesh();
    const conn = await nsc.request({
      connection: { id: 'nsc-1', networkService: 'icmp-responder', labels: { app: 'test' } },
      mechanismPreferences: [kernel],
    });

    const segments = conn.path?.pathSegments ?? [];
    expect(segments.map((s) => s.name)).toEqual(['nsc', 'nsmgr', 'forwarder', 'nse']);
    expect(conn.path?.index).toBe(0);
    expect(conn.id).toBe('nsc-1');
    expect(segments[0]?.id).toBe('nsc-1');
    expect(new Set(segments.map((s) => s.id)).size).toBe(4);
    for (const s of segments) {
      expect(s.token).not.toBe('');
      expect(s.expires).toBeDefined();
    }
    expect(conn.networkService).toBe('icmp-responder');
    expect(conn.labels).toEqual({ app: 'test' });
    expect(conn.mechanism?.type).toBe('KERNEL');
    for (const hop of [nsmgr, forwarder, nse]) expect(hop.counter.requests).toBe(1);

    await nsc.close(conn);
    for (const hop of [nsmgr, forwarder, nse]) {
      expect(hop.counter.closes).toBe(1);
      expect(hop.counter.uniqueCloses).toBe(1);
    }
  });

  it('a refresh keeps every segment id and reaches every hop again', async () => {
    const { nse, nsc } = await mesh();
    const conn = await nsc.request({ connection: { id: 'nsc-1', networkService: 'ns' }, mechanismPreferences: [kernel] });
    const again = await nsc.request({ connection: conn, mechanismPreferences: [kernel] });
    expect(again.path?.pathSegments.map((s) => s.id)).toEqual(conn.path?.pathSegments.map((s) => s.id));
    expect(nse.counter.requests).toBe(2);
    expect(nse.counter.uniqueRequests).toBe(1);
    await nsc.close(again);
    expect(nse.counter.closes).toBe(1);
  });

  it('a failing endpoint fails the Request with its status and leaves nothing allocated on the way', async () => {
    const { nse, forwarder, nsmgr } = await mesh();
    const nsc = h.sandbox.client('nsc-noretry', nsmgr.url, { retry: false });
    nse.errors.failRequests();
    await expect(nsc.request({ connection: { id: 'x', networkService: 'ns' }, mechanismPreferences: [kernel] })).rejects.toMatchObject({
      code: 14,
    });
    expect(forwarder.counter.requests).toBe(0);
  });
});

import { lastValueFrom, of, throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { Context } from '../core/context.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { unavailable } from '../core/errors.js';
import { Metrics } from '../tools/metrics.js';
import { metrics } from './metrics.js';

const conn = (rx: string) =>
  Connection.fromPartial({
    id: 'nsmgr-side',
    path: {
      pathSegments: [
        { name: 'nsc', id: 'conn-1' },
        { name: 'forwarder-0', id: 'f', metrics: { client_rx_bytes: rx, client_interface: 'nsm-1' } },
      ],
    },
  });

const value = async (m: Metrics, name: string) => (await m.registry.getSingleMetric(name)?.get())?.values.map((v) => [v.labels, v.value]);

describe('metrics (upstream common/metrics)', () => {
  it('each Request adds the growth of each integer path metric to <segment>_<metric>{connection}; Close forgets the series', async () => {
    const m = new Metrics();
    let rx = '100';
    const next: NetworkServiceHandler = { request: () => of(conn(rx)), close: () => of(undefined) };
    const handler = chain([metrics(m)], next);
    await lastValueFrom(handler.request({ connection: conn('0'), mechanismPreferences: [] }, Context.background));
    rx = '250';
    const answered = await lastValueFrom(handler.request({ connection: conn('0'), mechanismPreferences: [] }, Context.background));
    expect(answered.path?.pathSegments[1]?.metrics['client_rx_bytes']).toBe('250');
    expect(await value(m, 'forwarder_0_client_rx_bytes_total')).toEqual([[{ connection: 'conn-1' }, 250]]);
    expect(m.registry.getSingleMetric('forwarder_0_client_interface_total')).toBeUndefined(); // not an integer
    expect(await m.text()).toContain('forwarder_0_client_rx_bytes_total{connection="conn-1"} 250');
    await lastValueFrom(handler.close(conn('300'), Context.background), { defaultValue: undefined });
    expect(await value(m, 'forwarder_0_client_rx_bytes_total')).toEqual([]);
  });

  it('a failed Request records nothing', async () => {
    const m = new Metrics();
    const handler = chain([metrics(m)], { request: () => throwError(() => unavailable('down')), close: () => of(undefined) });
    await expect(lastValueFrom(handler.request({ connection: conn('5'), mechanismPreferences: [] }, Context.background))).rejects.toThrow('down');
    expect(m.registry.getSingleMetric('forwarder_0_client_rx_bytes_total')).toBeUndefined();
  });
});

import { status } from '../core/status.js';
import { DataPointType, type HistogramMetricData, type MetricData } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { Metrics } from './metrics.js';
import { otlpMetricsOf } from './otlpMetrics.js';

const start: [number, number] = [100, 0];
const now: [number, number] = [160, 5];
const named = (all: MetricData[], name: string) => all.find((m) => m.descriptor.name === name);

describe('otlpMetricsOf: a daemon’s Prometheus metrics in OpenTelemetry’s model', () => {
  it('counters are cumulative monotonic sums under upstream’s names (no _total), with their labels as attributes', async () => {
    const metrics = new Metrics();
    metrics.recordPath({ index: 0, pathSegments: [{ name: 'forwarder-0', id: 'c1', token: '', expires: undefined, metrics: { server_rx_bytes: '500', note: 'x' } }] });
    metrics.healed('reselect');
    const all = otlpMetricsOf(await metrics.json(), start, now);
    expect(named(all, 'forwarder_0_server_rx_bytes')).toMatchObject({
      dataPointType: DataPointType.SUM,
      isMonotonic: true,
      dataPoints: [{ attributes: { connection: 'c1' }, value: 500, startTime: start, endTime: now }],
    });
    expect(named(all, 'nsm_heal_requests')).toMatchObject({ dataPoints: [{ attributes: { kind: 'reselect' }, value: 1 }] });
    expect(named(all, 'forwarder_0_note')).toBeUndefined(); // not an integer: upstream skips it too
  });

  it('gauges stay gauges, read when collected', async () => {
    const metrics = new Metrics();
    let size = 3;
    metrics.gauge('nsm_registry_network_services', 'services', () => size);
    size = 4;
    expect(named(otlpMetricsOf(await metrics.json(), start, now), 'nsm_registry_network_services')).toMatchObject({ dataPointType: DataPointType.GAUGE, dataPoints: [{ value: 4 }] });
  });

  it('histograms: a point per label set, Prometheus’s cumulative ≤ buckets turned into OTLP’s per-interval counts, in seconds', async () => {
    const metrics = new Metrics();
    for (const method of ['/networkservice.NetworkService/Request', '/networkservice.NetworkService/Request', '/networkservice.NetworkService/Close']) metrics.grpcServer(method)(status.OK);
    const histogram = named(otlpMetricsOf(await metrics.json(), start, now), 'grpc_server_handling_seconds') as HistogramMetricData;
    expect(histogram.descriptor.unit).toBe('s');
    const request = histogram.dataPoints.find((p) => p.attributes['grpc_method'] === 'Request');
    expect(histogram.dataPoints).toHaveLength(2);
    expect(request?.attributes).toEqual({ grpc_service: 'networkservice.NetworkService', grpc_method: 'Request' });
    expect(request?.value.count).toBe(2);
    const { boundaries, counts } = request?.value.buckets ?? { boundaries: [], counts: [] };
    expect(boundaries[0]).toBe(0.001);
    expect(counts).toHaveLength(boundaries.length + 1); // the last interval: above every bound
    expect(counts.reduce((a, b) => a + b, 0)).toBe(2);
    expect(counts.every((c) => c >= 0)).toBe(true);
  });
});

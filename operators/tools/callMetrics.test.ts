import { status } from '../core/status.js';
import { describe, expect, it } from 'vitest';
import { CallMetrics, promText } from './callMetrics.js';

const request = { grpc_service: 'networkservice.NetworkService', grpc_method: 'Request' };

describe('CallMetrics: gRPC calls under go-grpc-prometheus’s names', () => {
  it('counts calls started and ended by code, a method each', () => {
    const calls = new CallMetrics('server');
    calls.observe('/networkservice.NetworkService/Request')(status.OK);
    calls.observe('/networkservice.NetworkService/Request')(status.NOT_FOUND);
    calls.observe('/networkservice.NetworkService/Request'); // not ended yet
    calls.observe('/networkservice.NetworkService/Close')(status.OK);
    const [started, handled] = calls.json();
    expect(started).toMatchObject({ name: 'grpc_server_started_total', type: 'counter' });
    expect(started?.values).toEqual([
      { labels: request, value: 3 },
      { labels: { ...request, grpc_method: 'Close' }, value: 1 },
    ]);
    expect(handled?.values).toEqual([
      { labels: { ...request, grpc_code: 'OK' }, value: 1 },
      { labels: { ...request, grpc_code: 'NOT_FOUND' }, value: 1 },
      { labels: { ...request, grpc_method: 'Close', grpc_code: 'OK' }, value: 1 },
    ]);
  });

  it('durations go into cumulative ≤ buckets, +Inf holding every call, with their sum and count', () => {
    const calls = new CallMetrics('client');
    for (let i = 0; i < 3; i++) calls.observe('/registry.NetworkServiceRegistry/Find')(status.OK);
    const seconds = calls.json()[2];
    expect(seconds).toMatchObject({ name: 'grpc_client_handling_seconds', type: 'histogram' });
    const buckets = seconds?.values.filter((v) => v.metricName === 'grpc_client_handling_seconds_bucket') ?? [];
    expect(buckets.map((b) => b.labels['le'])).toEqual([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, '+Inf']);
    expect(buckets.at(-1)?.value).toBe(3);
    expect(buckets.map((b) => b.value)).toEqual([...buckets.map((b) => b.value)].sort((a, b) => a - b)); // cumulative
    expect(seconds?.values.find((v) => v.metricName === 'grpc_client_handling_seconds_count')?.value).toBe(3);
    expect(seconds?.values.find((v) => v.metricName === 'grpc_client_handling_seconds_sum')?.value).toBeGreaterThanOrEqual(0);
  });

  it('promText writes the exposition format, label values escaped', () => {
    const text = promText([
      { name: 'x_total', help: 'a\\b\nc', type: 'counter', values: [{ labels: { k: 'q"\\\n' }, value: 2 }, { labels: {}, value: 1 }] },
      { name: 'h', help: 'h', type: 'histogram', values: [{ labels: { le: '+Inf' }, value: 4, metricName: 'h_bucket' }] },
    ]);
    expect(text).toBe('# HELP x_total a\\\\b\\nc\n# TYPE x_total counter\nx_total{k="q\\"\\\\\\n"} 2\nx_total 1\n\n# HELP h h\n# TYPE h histogram\nh_bucket{le="+Inf"} 4');
  });
});

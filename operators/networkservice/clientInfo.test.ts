import { defer, lastValueFrom, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { addClientInfo, clientInfo } from './clientInfo.js';

const ENV = { NODE_NAME: 'node-1', POD_NAME: 'pod-1', CLUSTER_NAME: 'cluster-1', OTHER: 'x' };

function recorder() {
  const labels: Record<string, string>[] = [];
  const closes: string[] = [];
  const next: NetworkServiceHandler = {
    request: (r) => defer(() => (labels.push({ ...r.connection?.labels }), of(Connection.fromPartial(r.connection as Connection)))),
    close: (c) => defer(() => (closes.push(c.id), of(undefined))),
  };
  return { next, labels, closes };
}

describe('addClientInfo', () => {
  it('adds nodeName, podName and clusterName from NODE_NAME, POD_NAME, CLUSTER_NAME', () => {
    const labels: Record<string, string> = { app: 'web' };
    addClientInfo(labels, ENV);
    expect(labels).toEqual({ app: 'web', nodeName: 'node-1', podName: 'pod-1', clusterName: 'cluster-1' });
  });

  it('never overwrites a label already there, even an empty one', () => {
    const labels: Record<string, string> = { nodeName: 'mine', podName: '' };
    addClientInfo(labels, ENV);
    expect(labels).toEqual({ nodeName: 'mine', podName: '', clusterName: 'cluster-1' });
  });

  it('skips variables that are not set; a variable set to "" is used (Go LookupEnv)', () => {
    const labels: Record<string, string> = {};
    addClientInfo(labels, { POD_NAME: '' });
    expect(labels).toEqual({ podName: '' });
  });
});

describe('clientInfo element', () => {
  it('labels the requested connection before next sees it; Close passes through', async () => {
    const rec = recorder();
    const handler = chain([clientInfo({ env: ENV })], rec.next);
    const conn = await lastValueFrom(
      handler.request(NetworkServiceRequest.fromPartial({ connection: { id: 'c', labels: { podName: 'caller' } } }), Context.background),
    );
    expect(rec.labels).toEqual([{ podName: 'caller', nodeName: 'node-1', clusterName: 'cluster-1' }]);
    expect(conn.labels).toEqual({ podName: 'caller', nodeName: 'node-1', clusterName: 'cluster-1' });
    await lastValueFrom(handler.close(Connection.fromPartial({ id: 'c' }), Context.background));
    expect(rec.closes).toEqual(['c']);
  });

  it('reads the environment at call time', async () => {
    const env: Record<string, string | undefined> = {};
    const rec = recorder();
    const handler = chain([clientInfo({ env })], rec.next);
    await lastValueFrom(handler.request(NetworkServiceRequest.fromPartial({ connection: { id: 'c' } }), Context.background));
    env['NODE_NAME'] = 'later';
    await lastValueFrom(handler.request(NetworkServiceRequest.fromPartial({ connection: { id: 'c' } }), Context.background));
    expect(rec.labels).toEqual([{}, { nodeName: 'later' }]);
  });
});

import { firstValueFrom } from 'rxjs';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest, NetworkServiceService } from '../../proto/gen/networkservice.js';
import { Context } from '../../operators/core/context.js';
import { unaryCall } from '../../streams/grpc/call.js';
import { serveNetworkService } from '../../streams/grpc/networkService.js';
import { GrpcServer } from '../../streams/grpc/server.js';
import { ConnectionMonitor } from '../../streams/monitorConnections.js';
import { of } from 'rxjs';
import { Sandbox } from '../sandbox/sandbox.js';
import { measure, type BenchResult } from './stats.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };

/** Baseline: one unary gRPC round trip over a unix socket to a handler that echoes. */
async function unaryBaseline(sandbox: Sandbox, iterations: number): Promise<BenchResult> {
  const server = new GrpcServer();
  serveNetworkService(server, { request: (r) => of(r.connection as Connection), close: () => of(undefined) }, new ConnectionMonitor());
  const [url] = await server.listen([sandbox.url('echo')]);
  const channel = sandbox.pool.acquire(url!);
  const request = NetworkServiceRequest.fromPartial({ connection: { id: 'x', networkService: 'ns' }, mechanismPreferences: [kernel] });
  try {
    return await measure('grpc unary round trip (unix socket, echo)', iterations, 200, async () => {
      await firstValueFrom(unaryCall(channel, NetworkServiceService.request, request, Context.background));
    });
  } finally {
    channel.release();
    await server.stop(100);
  }
}

/** The acceptance figure: Request + Close through nsc → nsmgr → forwarder → nse, no datapath. */
async function fourHop(sandbox: Sandbox, iterations: number): Promise<BenchResult[]> {
  const nse = await sandbox.endpoint('nse');
  const forwarder = await sandbox.passthrough('forwarder', nse.url);
  const nsmgr = await sandbox.passthrough('nsmgr', forwarder.url);
  const nsc = sandbox.client('nsc', nsmgr.url, { retry: false });
  let i = 0;
  const result = await measure('4-hop Request+Close (unix-socket gRPC, no-op datapath)', iterations, 200, async () => {
    const conn = await nsc.request({ connection: { id: `nsc-${i++}`, networkService: 'icmp-responder' }, mechanismPreferences: [kernel] });
    await nsc.close(conn);
  });
  // A refresh: the same connection re-requested through all 4 hops (monitor streams stay open).
  const established = await nsc.request({ connection: { id: 'nsc-refresh', networkService: 'icmp-responder' }, mechanismPreferences: [kernel] });
  const refresh = await measure('4-hop refresh Request (established connection)', iterations, 200, async () => {
    await nsc.request({ connection: established, mechanismPreferences: [kernel] });
  });
  await nsc.close(established);
  const leftovers = sandbox.leftovers();
  if (leftovers.length) throw new Error(`state left after the benchmark: ${leftovers.join('; ')}`);
  return [result, refresh];
}

export async function engineBenchmarks(quick: boolean): Promise<BenchResult[]> {
  const sandbox = await Sandbox.create();
  try {
    const n = quick ? 300 : 2000;
    return [await unaryBaseline(sandbox, n * 2), ...(await fourHop(sandbox, n))];
  } finally {
    await sandbox.cleanup();
  }
}

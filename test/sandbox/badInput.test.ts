import { status } from '../../operators/core/status.js';
import { firstValueFrom } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest, NetworkServiceService } from '../../proto/gen/networkservice.js';
import { Context } from '../../operators/core/context.js';
import { requestLimits } from '../../operators/networkservice/validateRequest.js';
import { outgoingMetadataKey, unaryCall } from '../../streams/grpc/call.js';
import { tokenMetadata } from '../../operators/tools/token.js';
import type { MethodDef } from '../../streams/grpc/method.js';
import type { PooledChannel } from '../../streams/grpc/channelPool.js';
import { Sandbox, type DeepPartial, type SandboxNode } from './sandbox.js';
import { leakedResources, resourceCounts, type ResourceCounts } from './leaks.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: {} };

describe('bad input over gRPC gets a clear status and leaves nothing behind', () => {
  let sandbox: Sandbox;
  let before: ResourceCounts;
  let nse: SandboxNode;
  let channel: PooledChannel;

  beforeEach(async () => {
    before = resourceCounts();
    sandbox = await Sandbox.create();
    nse = await sandbox.endpoint('nse');
    channel = sandbox.pool.acquire(nse.url);
  });

  afterEach(async () => {
    // The server still serves a good request, and holds nothing once it is closed.
    const ok = await send({ connection: { id: 'good', networkService: 'ns', path: { index: 0, pathSegments: [{ name: 'nsc', id: 'good' }] } }, mechanismPreferences: [kernel] });
    await firstValueFrom(unaryCall(channel, NetworkServiceService.close, ok, caller()));
    channel.release();
    expect(sandbox.leftovers()).toEqual([]);
    await sandbox.cleanup();
    expect(await leakedResources(before)).toEqual([]);
  });

  /** A caller with a token, as every NSM client sends one. */
  const caller = () => Context.background.with(outgoingMetadataKey, tokenMetadata(sandbox.token('nsc')()));
  const send = (request: DeepPartial<NetworkServiceRequest>) =>
    firstValueFrom(unaryCall(channel, NetworkServiceService.request, NetworkServiceRequest.fromPartial(request as NetworkServiceRequest), caller()));

  const rejects = async (request: DeepPartial<NetworkServiceRequest>, code: status, message: RegExp) => {
    const err = await send(request).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code });
    expect((err as Error).message).toMatch(message);
  };

  it('a Request with no connection → INVALID_ARGUMENT', () => rejects({ mechanismPreferences: [kernel] }, status.INVALID_ARGUMENT, /connection is required/));

  it('an empty network service → INVALID_ARGUMENT', () =>
    rejects({ connection: { id: 'a' }, mechanismPreferences: [kernel] }, status.INVALID_ARGUMENT, /network_service must not be empty/));

  it('a path index out of range → INVALID_ARGUMENT', () =>
    rejects(
      { connection: { id: 'a', networkService: 'ns', path: { index: 5, pathSegments: [{ name: 'nsc', id: 'a' }] } }, mechanismPreferences: [kernel] },
      status.INVALID_ARGUMENT,
      /index 5 is out of range for 1 path segments/,
    ));

  it('a path whose current id does not match the connection id → INVALID_ARGUMENT', () =>
    rejects(
      { connection: { id: 'a', networkService: 'ns', path: { index: 0, pathSegments: [{ name: 'nsc', id: 'b' }] } }, mechanismPreferences: [kernel] },
      status.INVALID_ARGUMENT,
      /segment 0 has id "b" but connection.id is "a"/,
    ));

  it('mechanism preferences no element supports → UNIMPLEMENTED naming them', async () => {
    await rejects(
      { connection: { id: 'a', networkService: 'ns' }, mechanismPreferences: [{ cls: 'LOCAL', type: 'MEMIF' }, { cls: 'LOCAL', type: 'VFIO' }] },
      status.UNIMPLEMENTED,
      /offered \[MEMIF, VFIO\], supported \[KERNEL\]/,
    );
    await rejects({ connection: { id: 'b', networkService: 'ns' }, mechanismPreferences: [] }, status.UNIMPLEMENTED, /offered \[none\]/);
  });

  it('too many labels, or an oversized label value → INVALID_ARGUMENT', async () => {
    const many = Object.fromEntries(Array.from({ length: requestLimits.maxLabels + 1 }, (_, i) => [`k${i}`, 'v']));
    await rejects({ connection: { id: 'a', networkService: 'ns', labels: many }, mechanismPreferences: [kernel] }, status.INVALID_ARGUMENT, /at most 64/);
    const huge = { big: 'x'.repeat(requestLimits.maxLabelValueLength + 1) };
    await rejects({ connection: { id: 'a', networkService: 'ns', labels: huge }, mechanismPreferences: [kernel] }, status.INVALID_ARGUMENT, /labels\["big"\] is longer/);
  });

  it('bytes that are not a valid protobuf → INVALID_ARGUMENT', async () => {
    const raw: MethodDef<Buffer, Connection> = {
      ...NetworkServiceService.request,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
    };
    for (const bytes of [Buffer.from([0x0a, 0xff, 0x01]), Buffer.from([0x0f]), Buffer.from([0x0a, 0x05, 0x0a])]) {
      const err = await firstValueFrom(unaryCall(channel, raw, bytes, Context.background)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: status.INVALID_ARGUMENT });
      expect((err as Error).message).toMatch(/not a valid protobuf message/);
    }
  });

  it('Close with a malformed path → INVALID_ARGUMENT', async () => {
    const conn = Connection.fromPartial({ id: 'a', networkService: 'ns', path: { index: 3, pathSegments: [{ name: 'x', id: 'a' }] } });
    const err = await firstValueFrom(unaryCall(channel, NetworkServiceService.close, conn, Context.background)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: status.INVALID_ARGUMENT });
  });
});

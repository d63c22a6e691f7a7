import { status } from '../core/status.js';
import { Metadata } from '../core/callMetadata.js';
import { defer, firstValueFrom, of, throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { incomingCallKey } from '../../streams/grpc/serve.js';
import { Context } from '../core/context.js';
import { unavailable } from '../core/errors.js';
import { registryChain, type NSEHandler } from '../core/registry.js';
import { grpcMetadata, parseRegistryPath, registryPathJson, registryPathKey, registryPathOf, type RegistryPath } from './grpcMetadata.js';

const nse = NetworkServiceEndpoint.fromPartial({ name: 'nse-1' });

/** A served call's context: `path` in metadata (unless undefined); headers sent are recorded. */
function served(path: string | undefined) {
  const metadata = new Metadata();
  if (path !== undefined) metadata.set('path', path);
  const headers: string[] = [];
  const ctx = Context.background.with(incomingCallKey, { metadata, peer: 'unix:', identity: undefined, sendHeaders: (md: Metadata) => headers.push(String(md.get('path')[0])) });
  return { ctx, headers };
}

describe('registry path JSON (upstream grpcmetadata.Path through Go encoding/json)', () => {
  it('writes Go’s field names and reads them back', () => {
    const path: RegistryPath = { index: 1, pathSegments: [{ token: 'a' }, { token: 'b' }] };
    expect(registryPathJson(path)).toBe('{"Index":1,"PathSegments":[{"token":"a"},{"token":"b"}]}');
    expect(parseRegistryPath(registryPathJson(path))).toEqual(path);
  });

  it('reads what Go writes for a first call (nil segments) and matches field names in any case, as encoding/json does', () => {
    expect(parseRegistryPath('{"Index":0,"PathSegments":null}')).toEqual({ index: 0, pathSegments: [] });
    expect(parseRegistryPath('{}')).toEqual({ index: 0, pathSegments: [] });
    expect(parseRegistryPath('{"index":2,"pathsegments":[{"Token":"x"},null,{}]}')).toEqual({ index: 2, pathSegments: [{ token: 'x' }, { token: '' }, { token: '' }] });
  });

  it.each<[string, RegExp]>([
    ['not json', /is not JSON/],
    ['[]', /must be a JSON object/],
    ['{"Index":-1}', /Index must be an unsigned 32-bit integer/],
    ['{"Index":1.5}', /Index must be/],
    ['{"PathSegments":{}}', /PathSegments must be an array/],
    ['{"PathSegments":[{"token":1}]}', /PathSegments\[0\] must be an object with a string "token"/],
    [JSON.stringify({ PathSegments: Array.from({ length: 65 }, () => ({ token: '' })) }), /at most 64/],
  ])('refuses %s', (json, why) => {
    expect(() => parseRegistryPath(json)).toThrow(why);
  });
});

describe('grpcMetadata (registry server)', () => {
  /** The chain below grpcMetadata: moves the path on one hop, as updatePath would, and records what it saw. */
  const below = (answer: 'ok' | 'fail' = 'ok') => {
    const seen: (RegistryPath | undefined)[] = [];
    const next: NSEHandler = registryChain([
      {
        register: (item, ctx) =>
          defer(() => {
            const path = ctx.get(registryPathKey);
            seen.push(path && structuredClone(path));
            path?.pathSegments.push({ token: 'server' });
            return answer === 'ok' ? of(item) : throwError(() => unavailable('down'));
          }),
      },
    ]);
    return { seen, handler: registryChain([grpcMetadata()], next) };
  };

  it('hands the caller’s path to the chain and, once it succeeded, sends the path as the chain left it in the "path" header', async () => {
    const { seen, handler } = below();
    const call = served('{"Index":0,"PathSegments":[{"token":"client"}]}');
    await firstValueFrom(handler.register(nse, call.ctx));
    expect(seen).toEqual([{ index: 0, pathSegments: [{ token: 'client' }] }]);
    expect(call.headers.map((h) => JSON.parse(h) as unknown)).toEqual([{ Index: 0, PathSegments: [{ token: 'client' }, { token: 'server' }] }]);
  });

  it('sends no header when the chain fails', async () => {
    const { handler } = below('fail');
    const call = served('{"Index":0,"PathSegments":[]}');
    await expect(firstValueFrom(handler.register(nse, call.ctx))).rejects.toMatchObject({ code: status.UNAVAILABLE });
    expect(call.headers).toEqual([]);
  });

  it('without the key goes on without a path (as upstream: its policies then see an empty one) and sends no header', async () => {
    const { seen, handler } = below();
    const call = served(undefined);
    await firstValueFrom(handler.register(nse, call.ctx));
    expect(seen).toEqual([undefined]);
    expect(registryPathOf(Context.background)).toEqual({ index: 0, pathSegments: [] });
    expect(call.headers).toEqual([]);
  });

  it('refuses a malformed path with INVALID_ARGUMENT naming the metadata key, before the chain runs', async () => {
    const { seen, handler } = below();
    await expect(firstValueFrom(handler.register(nse, served('{"Index":"one"}').ctx))).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      message: expect.stringContaining('registry path (gRPC metadata "path") Index must be'),
    });
    expect(seen).toEqual([]);
  });
});

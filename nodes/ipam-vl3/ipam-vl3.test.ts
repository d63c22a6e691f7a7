import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstValueFrom, lastValueFrom, Observable, of, Subject } from 'rxjs';
import { take, toArray } from 'rxjs/operators';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PrefixRequest, Type, type PrefixResponse } from '../../proto/gen/ipam.js';
import { Context } from '../../operators/core/context.js';
import { managePrefixes } from '../../operators/ipam/managePrefixes.js';
import { PrefixPool } from '../../operators/tools/prefixPool.js';
import type { NsmUrl } from '../../operators/tools/nsmUrl.js';
import { ChannelPool } from '../../streams/grpc/channelPool.js';
import { managePrefixesCall, serveIpam } from '../../streams/grpc/ipam.js';
import { GrpcServer } from '../../streams/grpc/server.js';

const allocate = (prefix = '', excludePrefixes: string[] = []) => PrefixRequest.fromPartial({ type: Type.ALLOCATE, prefix, excludePrefixes });

/** Upstream's vl3ipam server tests (sdk pkg/ipam/vl3ipam/server_test.go) over real gRPC on a unix socket. */
describe('ipam-vl3: ipam.IPAM/ManagePrefixes over gRPC (upstream vl3ipam server tests)', () => {
  let dir: string;
  let server: GrpcServer;
  let url: NsmUrl;
  let pool: ChannelPool;
  const serving = async (prefix: string) => {
    server = serveIpam(new GrpcServer(), managePrefixes(new PrefixPool(prefix, 24)));
    [url] = (await server.listen([`unix://${join(dir, 'ipam.sock')}`])) as [NsmUrl];
  };
  /** One NSE's stream: `requests` out, the answers back (open until unsubscribed or `requests` ends). */
  const stream = (requests: Observable<PrefixRequest>): Observable<PrefixResponse> => {
    const channel = pool.acquire(url);
    return new Observable<PrefixResponse>((subscriber) => {
      const sub = managePrefixesCall(channel, requests, Context.background).subscribe(subscriber);
      return () => {
        sub.unsubscribe();
        channel.release();
      };
    });
  };
  /** The first answer to `request` on a stream that stays open; `close` ends it. */
  const held: (() => void)[] = [];
  const hold = async (request: PrefixRequest): Promise<PrefixResponse> => {
    const answers = new Subject<PrefixResponse>();
    const sub = stream(new Observable<PrefixRequest>((s) => s.next(request))).subscribe(answers);
    held.push(() => sub.unsubscribe());
    return firstValueFrom(answers);
  };
  /** Allocates on a new stream and ends it (the server gives the prefix back). */
  const once = (request: PrefixRequest) => firstValueFrom(stream(new Observable<PrefixRequest>((s) => s.next(request))).pipe(take(1)));

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nsm-rx-ipam-'));
    pool = new ChannelPool();
  });
  afterEach(async () => {
    for (const close of held.splice(0)) close();
    pool.closeAll();
    await server.stop(100);
    await rm(dir, { recursive: true, force: true });
  });

  it('Test_vl3_IPAM_Allocate: 10 NSEs holding their streams get 172.16.0.0/24 … 172.16.9.0/24, no excludes', async () => {
    await serving('172.16.0.0/16');
    for (let i = 0; i < 10; i++) expect(await hold(allocate())).toEqual({ prefix: `172.16.${i}.0/24`, excludePrefixes: [] });
  });

  it('Test_vl3_IPAM_Allocate2: each NSE that leaves gives its prefix back: the next gets 173.16.0.0/24 again', async () => {
    await serving('173.16.0.0/16');
    for (let i = 0; i < 10; i++) await expect.poll(() => once(allocate()).then((r) => r.prefix)).toBe('173.16.0.0/24');
  });

  it('Test_vl3_IPAM_Allocate3: an NSE asking for its own prefix (a /30) gets it, again after it left', async () => {
    await serving('172.16.0.0/16');
    for (let i = 0; i < 10; i++) await expect.poll(() => once(allocate('172.16.0.0/30')).then((r) => r.prefix)).toBe('172.16.0.0/30');
  });

  it('Test_vl3_IPAM_Allocate4: growing excludes: each NSE gets the block after the last excluded one, excludes echoed', async () => {
    await serving('172.16.0.0/16');
    const excluded: string[] = [];
    for (let i = 0; i < 20; i += 2) {
      excluded.push(`172.16.${i}.0/24`);
      expect(await hold(allocate('', [...excluded]))).toEqual({ prefix: `172.16.${i + 1}.0/24`, excludePrefixes: excluded });
    }
  });

  it('one stream: ALLOCATE, DELETE, ALLOCATE; a client half-close ends the call and frees what it held', async () => {
    await serving('172.16.0.0/16');
    const answers = await lastValueFrom(stream(of(allocate(), allocate(), PrefixRequest.fromPartial({ type: Type.DELETE, prefix: '172.16.0.0/24' }), allocate())).pipe(toArray()));
    expect(answers.map((a) => a.prefix)).toEqual(['172.16.0.0/24', '172.16.1.0/24', '172.16.0.0/24']);
    await expect.poll(() => once(allocate()).then((r) => r.prefix)).toBe('172.16.0.0/24');
  });
});

describe('nsm-rx ipam-vl3 configuration', () => {
  it('NSM_CLIENT_PREFIX_LEN shorter than NSM_PREFIX: exit 2 naming both (needs npm run build)', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const r = spawnSync(process.execPath, ['bin/nsm-rx.js', 'ipam-vl3'], { cwd: root, encoding: 'utf8', env: { ...process.env, NSM_INSECURE: 'true', NSM_PREFIX: '172.16.0.0/16', NSM_CLIENT_PREFIX_LEN: '12' }, timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('NSM_PREFIX="172.16.0.0/16" with NSM_CLIENT_PREFIX_LEN=12: a /12 block does not fit in 172.16.0.0/16: expected 16 to 32');
  });
});

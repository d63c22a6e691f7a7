import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata } from '../../operators/core/callMetadata.js';
import { ClientChannel } from '../grpc/clientChannel.js';
import { firstValueFrom, take, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { SpiffeWorkloadAPIService } from '../../proto/gen/workload.js';
import { Context } from '../../operators/core/context.js';
import { unixUrl } from '../../operators/tools/nsmUrl.js';
import { outgoingMetadataKey, serverStreamCall, unaryCall } from '../grpc/call.js';
import { createCa } from './ca.js';
import { parseEntries } from './entries.js';
import { identityProvider } from './identityProvider.js';
import { fetchX509Contexts } from './workloadApi.js';
import { WorkloadApiServer } from './workloadApiServer.js';

const ca = createCa('nsm.local', new Date(), 3_600_000);
const other = createCa('other.domain', new Date(), 3_600_000);
const servers: WorkloadApiServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function serve(entries = '', svidTtlMs = 3_600_000) {
  const socket = join(mkdtempSync(join(tmpdir(), 'nsm-wl-')), 'agent.sock');
  const server = new WorkloadApiServer(
    identityProvider({ ca, trustDomain: 'nsm.local', svidTtlMs, entries: parseEntries(entries), federated: new Map([['other.domain', [other.cert]]]) }),
  );
  await server.listen(socket);
  servers.push(server);
  return unixUrl(socket);
}

describe('SPIFFE Workload API (identity provider and client)', () => {
  it('hands the calling process its SVID and the bundles; the default ID names its uid and executable', async () => {
    const ctx = await firstValueFrom(fetchX509Contexts(await serve()));
    expect(ctx.svid.id.href).toBe(`spiffe://nsm.local/uid/${process.getuid?.()}/${process.env['NSM_NAME'] ?? 'node'}`);
    expect(ctx.svid.chain[0]!.verify(ca.cert.publicKey)).toBe(true);
    expect(ctx.bundles.get('nsm.local')?.[0]?.raw.equals(ca.cert.raw)).toBe(true);
    expect(ctx.bundles.get('other.domain')?.[0]?.raw.equals(other.cert.raw)).toBe(true);
  });

  it('the first matching entry decides the ID', async () => {
    const entries = `# comment\nspiffe://nsm.local/nobody unix:uid:4242\nspiffe://nsm.local/ns/test/sa/node unix:uid:${process.getuid?.()} unix:path:${process.execPath}\n`;
    const ctx = await firstValueFrom(fetchX509Contexts(await serve(entries)));
    expect(ctx.svid.id.href).toBe('spiffe://nsm.local/ns/test/sa/node');
  });

  it('streams a new SVID at half its lifetime (same key)', async () => {
    const [a, b] = await firstValueFrom(fetchX509Contexts(await serve('', 1000)).pipe(take(2), toArray()));
    expect(b!.svid.chain[0]!.serialNumber).not.toBe(a!.svid.chain[0]!.serialNumber);
    expect(b!.svid.key.equals(a!.svid.key)).toBe(true);
  });

  it('refuses calls without the security header, and the JWT profile, with gRPC status codes', async () => {
    const socket = await serve();
    const client = new ClientChannel(socket);
    try {
      await expect(firstValueFrom(serverStreamCall({ client }, SpiffeWorkloadAPIService.fetchX509Svid, {}, Context.background))).rejects.toMatchObject({
        code: 3,
        message: expect.stringContaining('security header missing'),
      });
      const header = new Metadata();
      header.set('workload.spiffe.io', 'true');
      await expect(
        firstValueFrom(unaryCall({ client }, SpiffeWorkloadAPIService.fetchJwtsvid, { audience: ['x'], spiffeId: '' }, Context.background.with(outgoingMetadataKey, header))),
      ).rejects.toMatchObject({ code: 12 });
    } finally {
      client.close();
    }
  });

  it('refuses entries it cannot sign and malformed entry files, naming the line', () => {
    expect(() => identityProvider({ ca, trustDomain: 'nsm.local', svidTtlMs: 1000, entries: parseEntries('spiffe://other.domain/x unix:uid:0') })).toThrow(/not in trust domain nsm.local/);
    expect(() => parseEntries('\nspiffe://nsm.local/x')).toThrow(/entries:2: .* has no selector/);
    expect(() => parseEntries('spiffe://nsm.local/x pid:1')).toThrow(/entries:1: unknown selector "pid:1"/);
    expect(() => parseEntries('not-an-id unix:uid:0')).toThrow(/entries:1: .*not a SPIFFE ID/);
  });
});

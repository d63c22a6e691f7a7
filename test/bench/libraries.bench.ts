import { generateKeyPairSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import { importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { lastValueFrom } from 'rxjs';
import pino from 'pino';
import { Context } from '../../operators/core/context.js';
import { chain } from '../../operators/core/networkservice.js';
import { metadata } from '../../operators/networkservice/metadata.js';
import { point2pointIpam } from '../../operators/networkservice/point2pointIpam.js';
import { cidrContains, parseCidr, parseIp } from '../../operators/tools/cidr.js';
import { decodeJwt, signEs256, verifyEs256 } from '../../operators/tools/jwt.js';
import { createLogger } from '../../operators/tools/log.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { parseExcludedPrefixes } from '../../streams/excludedPrefixesFile.js';
import { measure, type BenchResult } from './stats.js';

/** Two results of the same work, the second a maintained library's: the ratio says which is faster. */
const versus = (ours: BenchResult, theirs: BenchResult): BenchResult[] => [ours, { ...theirs, extra: { 'p50 library/ours': Number((theirs.p50Ms / ours.p50Ms).toFixed(2)) } }];

/**
 * The hot paths the issue names, hand-written beside the maintained library that could replace
 * it: ES256 token signing and checking (ours on node:crypto vs jose), log lines (ours vs pino, both
 * JSON to /dev/null), CIDR parsing and matching (ours vs ipaddr.js), IPAM allocation (ours; no
 * library allocates), and reading an excluded-prefixes file (the yaml package).
 */
export async function libraryBenchmarks(quick: boolean): Promise<BenchResult[]> {
  const n = quick ? 2_000 : 20_000;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const claims = { sub: 'spiffe://nsm.local/nsc', aud: ['spiffe://nsm.local/nsmgr'], exp: 2_000_000_000 };
  const joseKey = await importJWK(privateKey.export({ format: 'jwk' }) as JWK, 'ES256');
  const josePublic = await importJWK(publicKey.export({ format: 'jwk' }) as JWK, 'ES256');
  const token = signEs256(claims, privateKey);

  const devNull = openSync('/dev/null', 'w');
  // Both write each line synchronously to the same file.
  const ours = createLogger('bench', 'INFO', { write: (line) => void writeSync(devNull, line) });
  const theirs = pino({ base: { component: 'bench' } }, pino.destination({ dest: devNull, sync: true }));
  const fields = { id: 'nsc-0', networkService: 'icmp-responder', attempt: 3 };

  const prefixes = ['10.244.0.0/16', 'fd00:10:244::/56', '10.96.0.0/12', '192.168.0.0/16'];
  const ipam = chain([metadata(), point2pointIpam(['169.254.0.0/16'])]);
  let i = 0;
  const excludedFile = `Prefixes:\n${Array.from({ length: 100 }, (_, k) => `- 10.${k}.0.0/16\n`).join('')}`;
  try {
    return [
      ...versus(
        await measure('ES256 token signing (node:crypto, hand-written JWT)', n, 500, async () => void signEs256(claims, privateKey)),
        await measure('ES256 token signing (jose SignJWT)', n, 500, async () => void (await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign(joseKey))),
      ),
      ...versus(
        await measure('ES256 token check (hand-written decode + verify)', n, 500, async () => void verifyEs256(decodeJwt(token), publicKey)),
        await measure('ES256 token check (jose jwtVerify)', n, 500, async () => void (await jwtVerify(token, josePublic))),
      ),
      ...versus(
        await measure('log line, JSON, to /dev/null (nsm-rx logger)', n * 5, 1000, async () => ours.info('request failed, retrying', fields)),
        await measure('log line, JSON, to /dev/null (pino)', n * 5, 1000, async () => theirs.info(fields, 'request failed, retrying')),
      ),
      ...versus(
        await measure('CIDR parse + contains, 4 prefixes (hand-written, bigint)', n, 500, async () => void prefixes.some((p) => { const c = parseCidr(p); return c.family === 4 && cidrContains(c, parseIp('10.244.3.7')); })),
        await measure('CIDR parse + contains, 4 prefixes (ipaddr.js)', n, 500, async () => void prefixes.some((p) => { const c = ipaddr.parseCIDR(p); const a = ipaddr.parse('10.244.3.7'); return a.kind() === c[0].kind() && a.match(c); })),
      ),
      await measure('IPAM: a point-to-point pair allocated and released (169.254.0.0/16)', n, 500, async () => {
        const request = NetworkServiceRequest.fromPartial({ connection: { id: `c${i++}`, context: { ipContext: {} } } });
        const conn = await lastValueFrom(ipam.request(request, Context.background));
        await lastValueFrom(ipam.close(conn, Context.background), { defaultValue: undefined });
      }),
      await measure('excluded-prefixes file of 100 prefixes read (yaml package + CIDR check)', quick ? 200 : 2000, 50, async () => void parseExcludedPrefixes(excludedFile)),
    ];
  } finally {
    closeSync(devNull);
  }
}

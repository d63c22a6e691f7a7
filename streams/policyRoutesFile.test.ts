import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray, type Subscription } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { PolicyRoute } from '../proto/gen/connectioncontext.js';
import { parsePolicyRoutes, policyRoutesFile } from './policyRoutesFile.js';

describe('parsePolicyRoutes (cmd-nse-icmp-responder NSM_PBR_CONFIG_PATH, yaml.v2 keys)', () => {
  it('reads upstream’s example form: from, proto, dstport, srcport, routes with prefix and nexthop', () => {
    const text = [
      '- from: 172.16.2.201/24',
      '  proto: 6',
      '  dstport: 6666',
      '  srcport: 5000-5010',
      '  routes:',
      '  - prefix: 172.16.3.0/24',
      '    nexthop: 172.16.2.200',
      '- proto: 17',
      '  routes:',
      '  - prefix: 2004::/64',
      '- from: 172.16.2.201/24',
    ].join('\n');
    expect(parsePolicyRoutes(text)).toEqual([
      { from: '172.16.2.201/24', proto: '6', dstPort: '6666', srcPort: '5000-5010', routes: [{ prefix: '172.16.3.0/24', nextHop: '172.16.2.200' }] },
      { from: '', proto: '17', dstPort: '', srcPort: '', routes: [{ prefix: '2004::/64', nextHop: '' }] },
      { from: '172.16.2.201/24', proto: '', dstPort: '', srcPort: '', routes: [] },
    ]);
  });

  it('an empty file or an empty list is no policies', () => {
    expect(parsePolicyRoutes('')).toEqual([]);
    expect(parsePolicyRoutes('[]')).toEqual([]);
  });

  it.each([
    ['from: 1.2.3.4/32', /expected a list of policy routes/],
    ['- from: 172.16.1.1', /policy 1: from "172.16.1.1" is not a CIDR/],
    ['- proto: tcp', /policy 1: proto "tcp" is not an IP protocol number/],
    ['- dstport: http', /policy 1: dstport: "http" is not a port/],
    ['- srcport: 90-80', /policy 1: srcport: "90-80" is not a port/],
    ['- {}\n- routes:\n  - nexthop: 1.1.1.1', /policy 2, route 1: prefix "" is not a CIDR/],
    ['- routes:\n  - prefix: 10.0.0.0/8\n    nexthop: gw', /nexthop "gw" is not an IP address/],
    ['- dst_port: 80', /unknown key "dst_port" \(upstream's key is "dstport"\)/],
    ['- routes: 10.0.0.0/8', /policy 1: routes must be a list/],
  ])('refuses %j naming what is wrong', (text, why) => {
    expect(() => parsePolicyRoutes(text)).toThrow(why);
  });
});

describe('policyRoutesFile (watched)', () => {
  let dir: string | undefined;
  let sub: Subscription | undefined;
  afterEach(async () => {
    sub?.unsubscribe();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('emits [] without a file, then each valid version; an invalid one is reported and the last good list stays', async () => {
    dir = await mkdtemp(join(tmpdir(), 'nsm-rx-pbr-'));
    const path = join(dir, 'config.yaml');
    const seen: PolicyRoute[][] = [];
    const errors: string[] = [];
    const source = policyRoutesFile({ path, debounce: 20, onError: (e) => errors.push(e.message) });
    sub = source.subscribe((p) => seen.push(p));
    await expect.poll(() => seen.length).toBe(1);
    expect(seen[0]).toEqual([]);
    await writeFile(path, '- proto: 6\n  dstport: 80\n');
    await expect.poll(() => seen.length).toBe(2);
    expect(seen[1]?.map((p) => p.dstPort)).toEqual(['80']);
    await writeFile(path, '- proto: six\n');
    await expect.poll(() => errors.length).toBe(1);
    expect(errors[0]).toMatch(/config.yaml: policy 1: proto "six"/);
    await writeFile(path, '- proto: 17\n');
    await expect.poll(() => seen.length).toBe(3);
    expect(seen[2]?.map((p) => p.proto)).toEqual(['17']);
  });

  it('a missing directory is not created: no policies, nothing reported, the stream ends', async () => {
    dir = await mkdtemp(join(tmpdir(), 'nsm-rx-pbr-'));
    const errors: string[] = [];
    const all = await lastValueFrom(policyRoutesFile({ path: join(dir, 'policy-based-routing', 'config.yaml'), onError: (e) => errors.push(e.message) }).pipe(toArray()));
    expect(all).toEqual([[]]);
    expect(errors).toEqual([]);
    expect(await readdir(dir)).toEqual([]);
  });
});

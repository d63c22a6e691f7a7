import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { clientResolvConf, manageResolvConf } from './resolvConf.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'nsm-rx-resolvconf-'));
  dirs.push(d);
  return d;
};
const active = (text: string) => text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));

describe('manageResolvConf', () => {
  const original = 'nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local\noptions ndots:5\n';

  it('points the resolver at the proxy, keeps the options and search, offers the original servers as the fallback, and puts the file back byte for byte', () => {
    const path = join(tempDir(), 'resolv.conf');
    writeFileSync(path, original);
    const managed = manageResolvConf(path, '127.0.0.1');
    expect(active(readFileSync(path, 'utf8'))).toEqual(['nameserver 127.0.0.1', 'search default.svc.cluster.local svc.cluster.local', 'options ndots:5']);
    expect(managed.original).toEqual({ dnsServerIps: ['10.96.0.10'], searchDomains: ['default.svc.cluster.local', 'svc.cluster.local'] });
    managed.search(['my.domain', 'svc.cluster.local']);
    expect(active(readFileSync(path, 'utf8'))).toContain('search default.svc.cluster.local svc.cluster.local my.domain');
    managed.restore();
    expect(readFileSync(path, 'utf8')).toBe(original);
  });

  it('a file that was not there is removed on restore, with the folders it made (/etc/netns/NAME, /etc/netns) unless another client still uses one', () => {
    const etc = tempDir();
    const managed = manageResolvConf(join(etc, 'netns', 'a', 'resolv.conf'), '127.0.0.1');
    expect(managed.original).toBeUndefined();
    expect(active(readFileSync(join(etc, 'netns', 'a', 'resolv.conf'), 'utf8'))).toEqual(['nameserver 127.0.0.1']);
    const other = manageResolvConf(join(etc, 'netns', 'b', 'resolv.conf'), '127.0.0.1');
    managed.restore();
    expect(existsSync(join(etc, 'netns', 'a'))).toBe(false);
    expect(existsSync(join(etc, 'netns', 'b', 'resolv.conf'))).toBe(true);
    other.restore();
    expect(existsSync(join(etc, 'netns', 'b'))).toBe(false);
    expect(existsSync(join(etc, 'netns'))).toBe(true); // b's nsc did not make it: a's did, and left it in use
  });

  it('after a crash (no restore) the next nsc finds the original in the file and restores that, not its own rewrite', () => {
    const path = join(tempDir(), 'resolv.conf');
    writeFileSync(path, original);
    manageResolvConf(path, '127.0.0.1').search(['my.domain']); // killed: never restored
    const next = manageResolvConf(path, '127.0.0.1');
    expect(next.original?.dnsServerIps).toEqual(['10.96.0.10']);
    next.restore();
    expect(readFileSync(path, 'utf8')).toBe(original);
  });
});

describe('clientResolvConf', () => {
  it('in a pod: its own /etc/resolv.conf, as upstream; in the host’s netns (not a named one): none, never the host’s file', () => {
    expect(clientResolvConf({ KUBERNETES_SERVICE_HOST: '10.96.0.1' })?.path).toBe('/etc/resolv.conf');
    expect(clientResolvConf({})).toBeUndefined(); // this test runs in the host's netns
  });
});

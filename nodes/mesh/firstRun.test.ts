import { describe, expect, it } from 'vitest';
import { debianLike, installMissing, type Host } from './firstRun.js';

const DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n';
const UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n';
const FEDORA = 'NAME="Fedora Linux"\nID=fedora\n';
const ping = [{ command: 'ping', pkg: 'iputils-ping' }];

function host(overrides: Partial<Host> = {}): Host & { runs: string[] } {
  const runs: string[] = [];
  return { root: true, osRelease: DEBIAN, aptGet: true, run: (c, a) => void runs.push([c, ...a].join(' ')), runs, ...overrides };
}

describe('the first run installs what the local mesh lacks', () => {
  it('as root on Debian: apt-get update, then install of the packages, told in one line', () => {
    const h = host();
    const said: string[] = [];
    expect(installMissing([...ping, { command: 'nsenter', pkg: 'util-linux' }], h, (l) => said.push(l))).toBe(true);
    expect(h.runs).toEqual(['apt-get update -qq', 'apt-get install -y -qq --no-install-recommends iputils-ping util-linux']);
    expect(said).toEqual(['installing iputils-ping util-linux with apt-get: the local mesh runs ping, nsenter, which this machine lacks']);
  });

  it('Ubuntu too; not Fedora, not without root, not without apt-get, not when nothing is missing', () => {
    expect(debianLike(UBUNTU)).toBe(true);
    for (const h of [host({ osRelease: FEDORA }), host({ root: false }), host({ aptGet: false }), host({ osRelease: '' })]) {
      expect(installMissing(ping, h, () => undefined)).toBe(false);
      expect(h.runs).toEqual([]);
    }
    const h = host();
    expect(installMissing([], h, () => undefined)).toBe(false);
    expect(h.runs).toEqual([]);
  });
});

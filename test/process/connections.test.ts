import { execFileSync, spawnSync } from 'node:child_process';
import { afterEach, expect, it } from 'vitest';
import type { MeshView } from '../../streams/connectionsView.js';
import { describeKernel, useNamespaces } from '../kernel/namespaces.js';
import { bin, nscEvents, pinger, stop } from './processMesh.js';
import { useProcessMesh } from './useProcessMesh.js';

// Short tokens: the nsc refreshes every second, so the path's counters (and rates) reach the nsmgr often.
const mesh = useProcessMesh({ NSM_MAX_TOKEN_LIFETIME: '3s' });
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', `nsm-rx-test-${process.pid}`, ...args], { encoding: 'utf8' });
const tmuxMissing = spawnSync('tmux', ['-V']).status !== 0;
if (tmuxMissing) console.warn('\n!!! SKIPPED the terminal test of nsm-rx connections: tmux is not installed (Debian package tmux; CI installs it) !!!\n');

describeKernel('nsm-rx connections: the live view of a mesh of processes', () => {
  const ns = useNamespaces();
  afterEach(() => {
    spawnSync('tmux', ['-L', `nsm-rx-test-${process.pid}`, 'kill-server']);
  });

  async function connected() {
    const [node, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    const { forwarder } = mesh().node(node, 0);
    mesh().nse(nseNs, 0);
    const client = mesh().nsc(nscNs);
    await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 30_000 }).toBe(1);
    return { node, nscNs, forwarder, client, id: nscEvents(client, 'connected')[0]?.path.pathSegments[0]?.id ?? '' };
  }

  it.skipIf(tmuxMissing)('in a terminal (tmux): path, state, addresses, interfaces and rates, redrawn in place; a forwarder killed shows as a heal', async () => {
    const { node, nscNs, forwarder, id } = await connected();
    const ping = pinger(nscNs, '169.254.1.0');
    try {
      const env = { SPIFFE_ENDPOINT_SOCKET: mesh().identitySocket, NSM_CONNECT_TO: mesh().sock('nsmgr-0') };
      tmux('new-session', '-d', '-s', 'view', '-x', '200', '-y', '50', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, bin, 'connections');
      const screen = () => tmux('capture-pane', '-p', '-t', 'view');
      await expect.poll(screen, { timeout: 20_000 }).toContain(`UP    icmp-responder  ${id}`);
      expect(screen()).toContain('1 connection\n');
      expect(screen()).toMatch(/nsc → nsmgr-0 → forwarder-0 → (nsmgr-0 → )?icmp-responder/);
      expect(screen()).toContain('169.254.1.1/32 → 169.254.1.0/32   interfaces nsm-1, icmp-respo');
      expect(screen()).toContain(`${mesh().sock('nsmgr-0')} (up)`);
      // ping through the forwarder: a rate of some hundred bytes to a few kB a second.
      await expect.poll(screen, { timeout: 20_000 }).toMatch(/forwarder-0 +client rx [1-9][\d.]* k?B\/s/);
      // Redrawn in place: one screen, not a scroll of frames.
      expect(screen().match(/^nsm-rx connections ·/gm)).toHaveLength(1);

      await stop(forwarder, 'SIGKILL');
      mesh().forwarder(node, 0, 'forwarder-new');
      await expect.poll(screen, { timeout: 30_000 }).toMatch(/path now nsc → nsmgr-0 → forwarder-new/);
    } finally {
      ping.stop();
    }
  }, 90_000);

  it('--json: the whole view as one JSON line per change, for scripts', async () => {
    const { id } = await connected();
    const tool = mesh().run(undefined, [process.execPath, bin, 'connections', '--json'], { NSM_CONNECT_TO: mesh().sock('nsmgr-0') });
    const views = () =>
      tool.out
        .split('\n')
        .filter((l) => l.startsWith('{"at"'))
        .map((l) => JSON.parse(l) as MeshView);
    await expect.poll(() => views().at(-1)?.connections.map((c) => [c.id, c.state, c.networkService]), { timeout: 20_000 }).toEqual([[id, 'UP', 'icmp-responder']]);
    expect(views().at(-1)?.sources).toEqual([{ url: mesh().sock('nsmgr-0'), up: true }]);
    expect(await stop(tool)).toBe(0);
  }, 60_000);
});

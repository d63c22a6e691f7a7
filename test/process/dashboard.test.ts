import { existsSync } from 'node:fs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterEach, expect, it } from 'vitest';
import { describeKernel, useNamespaces } from '../kernel/namespaces.js';
import { bin, nscEvents, pinger, stop } from './processMesh.js';
import { useProcessMesh } from './useProcessMesh.js';

// Debian's chromium (CI installs it); puppeteer-core drives it, downloading nothing.
const CHROMIUM = '/usr/bin/chromium';
const chromiumMissing = !existsSync(CHROMIUM);
if (chromiumMissing) console.warn(`\n!!! SKIPPED the browser test of nsm-rx dashboard: ${CHROMIUM} is missing (Debian package chromium; CI installs it) !!!\n`);

// Short tokens: the nsc refreshes every second, so the path's counters (and traffic) reach the nsmgr often.
const mesh = useProcessMesh({ NSM_MAX_TOKEN_LIFETIME: '3s' });
let browser: Browser | undefined;
afterEach(async () => {
  await browser?.close();
  browser = undefined;
});

/** The URL the dashboard's INFO line names. */
const dashboardUrl = (out: string): string | undefined =>
  out
    .split('\n')
    .filter((l) => l.includes('"msg":"serving the dashboard"'))
    .map((l) => (JSON.parse(l) as { url: string }).url)[0];

/** What the page shows: the graph's links and nodes by their data attributes, and the connections' text (run in the page, hence a string: no DOM types here). */
const SHOWN = `({
  links: [...document.querySelectorAll('path.link')].map((e) => e.dataset.from + '→' + e.dataset.to + ' ' + e.dataset.state),
  nodes: [...document.querySelectorAll('g.node')].map((e) => e.dataset.kind + ':' + e.dataset.id),
  traffic: [...document.querySelectorAll('text.traffic')].map((e) => e.textContent),
  connections: document.getElementById('connections').innerText,
  sources: document.getElementById('sources').innerText,
})`;
const shown = (page: Page) => page.evaluate(SHOWN) as Promise<{ links: string[]; nodes: string[]; traffic: string[]; connections: string; sources: string }>;

describeKernel('nsm-rx dashboard: the mesh in a browser (headless Chromium)', () => {
  const ns = useNamespaces();

  it.skipIf(chromiumMissing)('shows the connection as a graph with its state and traffic, found through the registry, and follows a heal after a forwarder kill', async () => {
    const [node, nscNs, nseNs] = [ns.make('node0'), ns.make('nsc'), ns.make('nse')];
    const { forwarder } = mesh().node(node, 0);
    mesh().nse(nseNs, 0);
    const client = mesh().nsc(nscNs);
    await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 30_000 }).toBe(1);
    const id = nscEvents(client, 'connected')[0]?.path.pathSegments[0]?.id ?? '';
    const ping = pinger(nscNs, '169.254.1.0');
    try {
      // Only the registry is named: the nsmgr is found through its forwarder's registration.
      const dashboard = mesh().run(undefined, [process.execPath, bin, 'dashboard'], { NSM_REGISTRY_URL: mesh().sock('registry'), NSM_DASHBOARD_LISTEN_ON: '127.0.0.1:0', NSM_LOG_LEVEL: 'INFO' });
      await expect.poll(() => dashboardUrl(dashboard.out), { timeout: 20_000 }).toBeDefined();
      const url = dashboardUrl(dashboard.out) ?? '';
      browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 300 });
      await page.goto(url);

      await expect.poll(async () => (await shown(page)).links, { timeout: 20_000 }).toContain('nsmgr-0→forwarder-0 UP');
      const before = await shown(page);
      expect(before.nodes).toEqual(expect.arrayContaining(['client:nsc', 'manager:nsmgr-0', 'forwarder:forwarder-0', 'endpoint:icmp-responder']));
      expect(before.links).toContain('nsc→nsmgr-0 UP');
      expect(before.connections).toContain(id);
      expect(before.sources).toContain(`${mesh().sock('nsmgr-0')} (up)`);
      // ping's traffic, measured at the forwarder from one refresh to the next.
      await expect.poll(async () => (await shown(page)).traffic.join(' '), { timeout: 20_000 }).toMatch(/\d B\/s|kB\/s/);

      await stop(forwarder, 'SIGKILL');
      mesh().forwarder(node, 0, 'forwarder-new');
      await expect.poll(async () => (await shown(page)).links, { timeout: 30_000 }).toContain('nsmgr-0→forwarder-new UP');
      await expect.poll(async () => (await shown(page)).connections, { timeout: 10_000 }).toMatch(/path now nsc → nsmgr-0 → forwarder-new/);
      expect((await shown(page)).links.filter((l) => l.includes('forwarder-0'))).toEqual([]);
      await expect.poll(async () => (await shown(page)).traffic.join(' '), { timeout: 20_000 }).toMatch(/\d B\/s|kB\/s/); // through forwarder-new now
      const screenshot = process.env['NSM_RX_DASHBOARD_SCREENSHOT'];
      if (screenshot) await page.screenshot({ path: screenshot as `${string}.png` });

      // Upstream dashboard-backend's REST model, for its UI.
      const nodes = (await (await fetch(new URL('nodes', url))).json()) as { data: { id: string; type: string; parent?: string } }[];
      expect(nodes.filter((n) => n.data.type === 'interface' && n.data.parent === 'forwarder-new')).toHaveLength(2);
      const edges = (await (await fetch(new URL('edges', url))).json()) as { data: { type: string; healthy: boolean } }[];
      expect(edges.map((e) => e.data.type)).toEqual(['interfaceConnection', 'interfaceCrossConnection', 'interfaceConnection']);
      expect(await stop(dashboard)).toBe(0);
    } finally {
      ping.stop();
    }
  }, 120_000);
});

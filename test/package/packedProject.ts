import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { inCheckout } from '../process/processMesh.js';

/** The repository's examples/. */
export const examplesInRepo = inCheckout('examples');

/**
 * A project outside the repository as a user makes one: nsm-rx installed from the tarball
 * `npm pack` makes of this checkout's build (dist/, made by `npm test`'s build; no scripts run,
 * so the build under test is not rewritten), rxjs beside it, and the examples copied in.
 * Made once per test file; `remove` deletes it.
 */
export function packedProject(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-packed-'));
  const tarball = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: dirname(inCheckout('package.json')), encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'nsm-rx-user', private: true, type: 'module', dependencies: { 'nsm-rx': `file:./${tarball}`, rxjs: '^7.8.2' } }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--silent'], { cwd: dir, stdio: 'inherit' });
  for (const f of readdirSync(examplesInRepo)) copyFileSync(join(examplesInRepo, f), join(dir, f));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect, it } from 'vitest';
import { inCheckout } from '../process/processMesh.js';

interface Reflection {
  readonly name: string;
  readonly children?: readonly Reflection[];
  readonly comment?: { readonly summary: readonly { readonly text: string }[] };
  readonly signatures?: readonly Reflection[];
}

it('npm run docs: TypeDoc builds the API pages of the three entry points from their doc comments', () => {
  const repo = dirname(inCheckout('package.json'));
  const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-api-'));
  try {
    // The package's typedocOptions, writing the model as JSON (the HTML pages come from the same model).
    const run = spawnSync(process.execPath, [join(repo, 'node_modules/typedoc/bin/typedoc'), '--json', join(dir, 'api.json'), '--out', join(dir, 'html')], { cwd: repo, encoding: 'utf8' });
    expect(run.status, run.stdout + run.stderr).toBe(0);
    const api = JSON.parse(readFileSync(join(dir, 'api.json'), 'utf8')) as Reflection;
    expect(api.children?.map((m) => m.name)).toEqual(['client', 'index', 'testing']);
    const doc = (module: string, name: string) => {
      const r = api.children?.find((m) => m.name === module)?.children?.find((c) => c.name === name);
      return (r?.comment ?? r?.signatures?.[0]?.comment)?.summary.map((p) => p.text).join('') ?? '';
    };
    expect(doc('index', 'startEndpoint')).toMatch(/Runs a network service endpoint in this process/);
    expect(doc('client', 'connect')).toMatch(/A client of the nsmgr at `connectTo`/);
    expect(doc('testing', 'marbles')).toMatch(/TestScheduler/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

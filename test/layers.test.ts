/**
 * Layering as a rule: the project's folders import downward only,
 *
 *   proto/gen → operators/core, operators/tools → streams → dataplane, k8s
 *     → elements (operators/networkservice, operators/registry, operators/authorize, operators/ipam)
 *     → operators/chains → nodes
 *
 * and no import cycle exists among non-test files; a chain takes datapath and netns helpers from
 * the node (it imports only the `Datapath` interface from dataplane/). Tests (`test/`,
 * `*.test.ts`) may import anything and are not read. Every relative import counts — static, `export … from`, dynamic
 * `import()`, and `import type` too: a type names what a layer depends on as much as a value does.
 */

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Folder prefix → rank; the longest matching prefix wins. Same rank may import each other. */
const layers: readonly (readonly [prefix: string, rank: number])[] = [
  ['proto/gen/', 0],
  ['operators/core/', 1],
  ['operators/tools/', 1],
  ['streams/', 2],
  ['dataplane/', 3],
  ['k8s/', 3],
  ['operators/networkservice/', 4],
  ['operators/registry/', 4],
  ['operators/authorize/', 4],
  ['operators/ipam/', 4],
  ['operators/chains/', 5],
  ['nodes/', 6],
];
const scanned = ['proto/gen', 'operators', 'streams', 'dataplane', 'k8s', 'nodes'];

function layerOf(file: string): { prefix: string; rank: number } | undefined {
  let best: { prefix: string; rank: number } | undefined;
  for (const [prefix, rank] of layers) {
    if (file.startsWith(prefix) && (best === undefined || prefix.length > best.prefix.length)) best = { prefix, rank };
  }
  return best;
}

function sourceFiles(dir: string): string[] {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs).flatMap((name) => {
    if (name === 'node_modules' || name === 'dist') return [];
    const rel = `${dir}/${name}`;
    if (statSync(join(root, rel)).isDirectory()) return sourceFiles(rel);
    return rel.endsWith('.ts') && !rel.endsWith('.test.ts') && !rel.endsWith('.d.ts') ? [rel] : [];
  });
}

/** Relative imports of one file, resolved to project paths (`./x.js` → `dir/x.ts`). */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => {
      const target = relative(root, resolve(root, dirname(file), spec)).replace(/\.js$/, '.ts');
      return existsSync(join(root, target)) ? target : `${target}/index.ts`;
    });
}

const files = scanned.flatMap(sourceFiles);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe('layers', () => {
  it('reads the project: every scanned file belongs to a layer and resolves its imports', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(files.filter((f) => layerOf(f) === undefined)).toEqual([]);
    const unresolved = [...graph].flatMap(([f, deps]) => deps.filter((d) => !existsSync(join(root, d))).map((d) => `${f} → ${d}`));
    expect(unresolved).toEqual([]);
  });

  it('imports only run downward (or within a layer)', () => {
    const upward: string[] = [];
    for (const [file, deps] of graph) {
      const from = layerOf(file);
      for (const dep of deps) {
        const to = layerOf(dep);
        if (from === undefined || to === undefined) continue; // a test helper or a folder outside the rule
        if (to.rank > from.rank) upward.push(`${file} [${from.prefix}] → ${dep} [${to.prefix}]`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('a chain gets datapath and netns helpers injected: from dataplane/ it imports only the Datapath interface', () => {
    const direct = [...graph].flatMap(([file, deps]) =>
      file.startsWith('operators/chains/') ? deps.filter((d) => d.startsWith('dataplane/') && d !== 'dataplane/datapath.ts').map((d) => `${file} → ${d}`) : [],
    );
    expect(direct).toEqual([]);
  });

  it('has no import cycle among non-test files', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string): void => {
      state.set(file, 'open');
      stack.push(file);
      for (const dep of graph.get(file) ?? []) {
        if (!graph.has(dep)) continue;
        const s = state.get(dep);
        if (s === 'open') cycles.push([...stack.slice(stack.indexOf(dep)), dep].join(' → '));
        else if (s === undefined) visit(dep);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });
});

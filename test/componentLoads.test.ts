/**
 * A daemon loads only what it runs. Every module a Node process loads stays in its memory (its
 * source text, its compiled code), so a component that reaches the Kubernetes client through
 * some shared file pays for it idle: registry-memory did, 40 MiB of its 105. Read from the
 * emitted JavaScript (`npm test` builds first), where imports used only as types are gone: the
 * static imports each component's main reaches, following the project's own files; a dynamic
 * `import()` loads on demand and is not followed.
 */

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const dist = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'dist');

/** The static imports of one emitted module: project files resolved to paths, packages by name. */
function staticImports(file: string): { files: string[]; packages: string[] } {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, false, ts.ScriptKind.JS);
  const specifiers = source.statements.flatMap((s) =>
    (ts.isImportDeclaration(s) || ts.isExportDeclaration(s)) && s.moduleSpecifier && ts.isStringLiteral(s.moduleSpecifier) ? [s.moduleSpecifier.text] : [],
  );
  return {
    files: specifiers.filter((m) => m.startsWith('.')).map((m) => resolve(dirname(file), m)),
    packages: specifiers.filter((m) => !m.startsWith('.') && !m.startsWith('node:')).map((m) => (m.startsWith('@') ? m.split('/').slice(0, 2).join('/') : (m.split('/')[0] ?? m))),
  };
}

/** Every package a module loads when it is imported, and through which project file it first does. */
function packagesLoadedBy(main: string): Map<string, string> {
  const loaded = new Map<string, string>();
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const { files, packages } = staticImports(file);
    for (const p of packages) if (!loaded.has(p)) loaded.set(p, relative(dist, file));
    files.forEach(visit);
  };
  visit(main);
  return loaded;
}

const components = existsSync(join(dist, 'nodes')) ? readdirSync(join(dist, 'nodes')).filter((c) => existsSync(join(dist, 'nodes', c, 'main.js'))) : [];
const usesKubernetes = (component: string) => component.endsWith('-k8s');

describe('what each component loads (emitted JavaScript)', () => {
  it('finds the components (the build ran)', () => {
    expect(components).toEqual(expect.arrayContaining(['registry-memory', 'registry-k8s', 'nsmgr', 'forwarder-kernel', 'nse-icmp-responder', 'nsc', 'node', 'cli']));
  });

  it('only the Kubernetes components load the Kubernetes client; the CLI loads a component only when it is named', () => {
    const loading = components.flatMap((c) => {
      const via = packagesLoadedBy(join(dist, 'nodes', c, 'main.js')).get('@kubernetes/client-node');
      return via === undefined ? [] : [`${c} (through ${via})`];
    });
    expect(loading.filter((c) => !usesKubernetes(c.split(' ')[0] ?? ''))).toEqual([]);
    // The rule can fail: the components that need the client do load it.
    expect(loading.map((c) => c.split(' ')[0])).toEqual(expect.arrayContaining(['registry-k8s', 'admission-webhook-k8s']));
  });

  it('no component loads grpc-js: calls are made and served by streams/grpc (only the OTLP metrics exporter, imported when asked for, brings it)', () => {
    const loading = components.flatMap((c) => {
      const via = packagesLoadedBy(join(dist, 'nodes', c, 'main.js')).get('@grpc/grpc-js');
      return via === undefined ? [] : [`${c} (through ${via})`];
    });
    expect(loading).toEqual([]);
    // The rule can fail: a test's reference server does load it.
    expect(packagesLoadedBy(join(dist, 'test', 'otlp', 'receiver.js')).has('@grpc/grpc-js')).toBe(true);
  });
});

import { afterEach, beforeEach } from 'vitest';
import { ProcessMesh } from './processMesh.js';

/**
 * A fresh ProcessMesh for each test of the calling file: what every daemon said is printed when
 * the test failed, and the mesh is disposed after it (processes stopped, dir removed); `env` goes
 * to every daemon. Returns
 * the current test's mesh.
 */
export function useProcessMesh(env: Readonly<Record<string, string>> = {}): () => ProcessMesh {
  let current: ProcessMesh | undefined;
  beforeEach(() => {
    current = new ProcessMesh(env);
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') console.error(current?.dump());
    await current?.dispose();
    current = undefined;
  });
  return () => {
    if (current === undefined) throw new Error('useProcessMesh: no test is running');
    return current;
  };
}

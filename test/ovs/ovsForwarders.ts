import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { ForwarderKind } from '../process/processMesh.js';

/** The OVS daemons a forwarder-ovs started in `rundir`, by their pidfiles, that still run. */
export function ovsDaemonsIn(rundir: string): string[] {
  if (!existsSync(rundir)) return [];
  return readdirSync(rundir)
    .filter((f) => f.endsWith('.pid'))
    .filter((f) => {
      try {
        process.kill(Number(readFileSync(join(rundir, f), 'utf8').trim()), 0);
        return true;
      } catch {
        return false;
      }
    })
    .map((f) => f.replace(/\.pid$/, ''))
    .sort();
}

/**
 * forwarder-ovs kinds for process meshes: `kind()` is a forwarder-ovs with an OVS run directory
 * of its own; `forNode(i)` the same one for every forwarder of node i (a successor finds its
 * predecessor's OVS). After each test, OVS daemons still running are killed (a mesh kills its
 * forwarders with -9, and OVS outlives a killed forwarder) and the directories removed.
 */
export function useOvsForwarders(): { kind(): ForwarderKind; forNode(node: number): ForwarderKind } {
  const rundirs: string[] = [];
  const byNode = new Map<number, ForwarderKind>();
  const kind = (): ForwarderKind => {
    const rundir = mkdtempSync(join(tmpdir(), 'nsm-rx-ovs-'));
    rundirs.push(rundir);
    return { component: 'forwarder-ovs', env: { OVS_RUNDIR: rundir } };
  };
  afterEach(() => {
    byNode.clear();
    for (const rundir of rundirs.splice(0)) {
      for (const d of ovsDaemonsIn(rundir)) process.kill(Number(readFileSync(join(rundir, `${d}.pid`), 'utf8').trim()), 'SIGKILL');
      rmSync(rundir, { recursive: true, force: true });
    }
  });
  return {
    kind,
    forNode: (node) => {
      let k = byNode.get(node);
      if (k === undefined) byNode.set(node, (k = kind()));
      return k;
    },
  };
}

import { afterEach, describe } from 'vitest';
import { kernelDatapathMissing } from '../../dataplane/kernel/host.js';
import { addNetns, inodeUrlOf, removeNetns } from './netns.js';

export { ipJson, pings, resolves, startWorkload, tcpTransfer, underlay } from './netns.js';

/** `describe` that runs only where the kernel tests can, saying loudly what it skipped and why. */
export function describeKernel(name: string, body: () => void): void {
  const why = kernelDatapathMissing();
  if (why) {
    console.warn(`\n!!! SKIPPED kernel tests "${name}": ${why} (CI runs them as root) !!!\n`);
    describe.skip(name, body);
  } else describe(name, body);
}

let seq = 0;

/**
 * Network namespaces made for one test and deleted after it (with everything in them). Names
 * carry the pid so parallel test files never collide.
 */
export function useNamespaces(): { make(label: string): string; inodeUrl(name: string): string; remove(name: string): void } {
  const made: string[] = [];
  afterEach(() => {
    for (const n of made.splice(0)) removeNetns(n);
  });
  return {
    make(label) {
      const name = `nsmrx-${process.pid}-${seq++}-${label}`;
      addNetns(name);
      made.push(name);
      return name;
    },
    inodeUrl: inodeUrlOf,
    /** Deletes one now (a workload dying with its pod). */
    remove(name) {
      made.splice(made.indexOf(name), 1);
      removeNetns(name);
    },
  };
}


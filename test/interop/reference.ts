import { execFileSync } from 'node:child_process';
import { inCheckout } from '../process/processMesh.js';

/**
 * The directory of the Go reference programs (test/interop/build.sh, upstream sdk v1.14.5), or
 * undefined without Go: then a failure in CI and a loud skip elsewhere (`quiet`: benches say
 * nothing and leave the upstream column out).
 */
export function referenceBinaries(quiet = false): string | undefined {
  try {
    return execFileSync(inCheckout('test/interop/build.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', quiet ? 'ignore' : 'inherit'] }).trim();
  } catch (e) {
    if (quiet) return undefined;
    const why = `cannot build the Go reference programs: ${e instanceof Error ? e.message : String(e)}`;
    if (process.env['CI']) throw new Error(why);
    console.warn(`\n!!! SKIPPED interop tests: ${why}\n`);
    return undefined;
  }
}

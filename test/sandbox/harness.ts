import { afterEach, beforeEach, expect } from 'vitest';
import { Sandbox, type SandboxOptions } from './sandbox.js';
import { leakedResources, resourceCounts, type ResourceCounts } from './leaks.js';

/** What a test file gets from `useSandbox`: the current test's sandbox, and a way out of the leak check. */
export interface SandboxHarness {
  readonly sandbox: Sandbox;
  /** Made with other options than the file's defaults (call at most once per test). */
  recreate(options: SandboxOptions): Promise<Sandbox>;
  /** This test leaves state behind on purpose (a client that "died"); skip the state check. */
  expectLeftovers(): void;
}

/**
 * A fresh sandbox per test, and after each test the leak check: no connection or registration
 * state left at any node or client, no borrowed channel, and no timer or socket handle beyond
 * what was open before the test.
 */
export function useSandbox(options: SandboxOptions = {}): SandboxHarness {
  let current: Sandbox | undefined;
  let before: ResourceCounts;
  let checkState = true;
  beforeEach(async () => {
    before = resourceCounts();
    checkState = true;
    current = await Sandbox.create(options);
  });
  afterEach(async () => {
    const sandbox = current as Sandbox;
    if (checkState) expect(sandbox.leftovers()).toEqual([]);
    await sandbox.cleanup();
    expect(await leakedResources(before)).toEqual([]);
  });
  return {
    get sandbox() {
      return current as Sandbox;
    },
    async recreate(other) {
      await current?.cleanup();
      current = await Sandbox.create(other);
      return current;
    },
    expectLeftovers() {
      checkState = false;
    },
  };
}

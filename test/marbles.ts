import { TestScheduler, type RunHelpers } from 'rxjs/testing';
import { expect } from 'vitest';

/**
 * Runs `body` on a fresh rxjs TestScheduler in run mode (virtual time in ms frames), asserting
 * with vitest's deep equality. `scheduler` is the one to inject as elements' `scheduler` option.
 */
export function marbles(body: (helpers: RunHelpers, scheduler: TestScheduler) => void): void {
  const scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  scheduler.run((helpers) => body(helpers, scheduler));
}

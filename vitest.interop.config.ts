import { defineConfig } from 'vitest/config';

/** `npm run test:interop`: nsm-rx with upstream NSM Go code (test/interop). */
export default defineConfig({
  test: {
    include: ['test/interop/**/*.interop.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
});

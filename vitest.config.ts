import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{streams,operators,nodes,dataplane,k8s,test}/**/*.test.ts'],
    exclude: ['node_modules', 'dist'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    globalSetup: ['test/k8s/globalSetup.ts'],
  },
});

#!/usr/bin/env node
// Plain JavaScript so the binary needs no TypeScript loader: the CLI is compiled into dist/ by
// `npm run build`. See nodes/cli/main.ts.
let mod;
try {
  mod = await import('../dist/nodes/cli/main.js');
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('nodes/cli/main.js')) {
    process.stderr.write('nsm-rx: dist/ is missing; run `npm run build` first\n');
    process.exit(1);
  }
  throw e;
}
await mod.cli();

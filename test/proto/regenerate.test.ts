// proto/gen is committed so builds need no protoc; this test keeps it honest: regenerating from
// proto/**/*.proto must reproduce it byte for byte (no edits by hand, no stale or stray files).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const committed = path.join(repoRoot, 'proto/gen');
const hasProtoc = spawnSync('sh', ['-c', 'command -v protoc'], { stdio: 'ignore' }).status === 0;
const ci = !!process.env['CI'] && process.env['CI'] !== 'false' && process.env['CI'] !== '0';

// Without protoc we cannot check anything. Locally that is a skip, but said loudly; in CI a
// missing toolchain must not turn into a silently green build.
if (!hasProtoc && !ci) {
  console.warn(
    '!!! SKIPPED test/proto/regenerate.test.ts: `protoc` is not on PATH, so proto/gen was NOT checked ' +
      'against proto/**/*.proto (apt-get install protobuf-compiler libprotobuf-dev to run it).',
  );
}

/** Relative paths of all files under dir, sorted. */
function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

describe.skipIf(!hasProtoc && !ci)('proto/generate.sh', () => {
  // Created in beforeAll, not in the describe body: that body also runs when the suite is skipped.
  let tmp = '';
  beforeAll(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'nsm-rx-proto-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('reproduces the committed proto/gen byte for byte', () => {
    if (!hasProtoc) throw new Error('CI is set but `protoc` is not on PATH: install protobuf-compiler libprotobuf-dev');
    const fresh = path.join(tmp, 'gen'); // generate.sh wipes its output dir, so give it its own
    const run = spawnSync('bash', ['proto/generate.sh', fresh], { cwd: repoRoot, encoding: 'utf8' });
    expect(run.status, `generate.sh failed:\n${run.stderr}`).toBe(0);

    const want = listFiles(fresh);
    const have = listFiles(committed);
    const same = (f: string) => readFileSync(path.join(fresh, f)).equals(readFileSync(path.join(committed, f)));
    // One assertion so a failure shows every kind of drift at once.
    expect(
      {
        missingFromCommitted: want.filter((f) => !have.includes(f)),
        staleInCommitted: have.filter((f) => !want.includes(f)),
        contentDiffers: want.filter((f) => have.includes(f) && !same(f)),
      },
      'proto/gen is out of date: run `npm run proto:gen` (protoc 3.21, pinned ts-proto)',
    ).toEqual({ missingFromCommitted: [], staleInCommitted: [], contentDiffers: [] });
  });
});

import { mkdtemp, readdir, rename, rm, symlink, unlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subscription } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXCLUDED_PREFIXES_FILE, excludedPrefixesFile, parseExcludedPrefixes, parseYamlStringList, YamlError } from './excludedPrefixesFile.js';

describe('parseYamlStringList / parseExcludedPrefixes', () => {
  it('reads the format cmd-exclude-prefixes-k8s writes (capital P)', () => {
    expect(parseExcludedPrefixes('Prefixes:\n- 10.244.0.0/16\n- 10.96.0.0/12\n')).toEqual(['10.244.0.0/16', '10.96.0.0/12']);
  });

  it('accepts the key in any case; the last matching key wins', () => {
    expect(parseExcludedPrefixes('prefixes:\n- 10.0.0.0/8')).toEqual(['10.0.0.0/8']);
    expect(parseExcludedPrefixes('PREFIXES:\n  - 10.0.0.0/8')).toEqual(['10.0.0.0/8']);
    expect(parseExcludedPrefixes('prefixes:\n- 10.0.0.0/8\nPrefixes:\n- 192.168.0.0/16')).toEqual(['192.168.0.0/16']);
  });

  it('empty documents, null and empty lists are an empty list', () => {
    expect(parseExcludedPrefixes('')).toEqual([]);
    expect(parseExcludedPrefixes('# nothing\n\n')).toEqual([]);
    expect(parseExcludedPrefixes('Prefixes:')).toEqual([]);
    expect(parseExcludedPrefixes('Prefixes: ~')).toEqual([]);
    expect(parseExcludedPrefixes('Prefixes: null')).toEqual([]);
    expect(parseExcludedPrefixes('Prefixes: []')).toEqual([]);
    expect(parseExcludedPrefixes('other: 1')).toEqual([]);
  });

  it('flow sequences, quotes, comments, CRLF, a BOM, document markers, IPv6', () => {
    expect(parseExcludedPrefixes('Prefixes: [10.0.0.0/8, "fd00::/8", \'192.168.0.0/16\']')).toEqual(['10.0.0.0/8', 'fd00::/8', '192.168.0.0/16']);
    const text = '\uFEFF---\r\n# written by exclude-prefixes\r\nPrefixes: # the list\r\n- "10.0.0.0/8" # pods\r\n\r\n- \'2001:db8::/64\'\r\n...\r\nignored: after the end\r\n';
    expect(parseExcludedPrefixes(text)).toEqual(['10.0.0.0/8', '2001:db8::/64']);
  });

  it('skips other keys and what is nested under them', () => {
    const text = 'cluster:\n  name: a\n  nets:\n    - x\nPrefixes:\n- 10.0.0.0/8\nextra:\n- not ours\n';
    expect(parseExcludedPrefixes(text)).toEqual(['10.0.0.0/8']);
  });

  it('invalid YAML, and YAML that is not a list of strings under the key, is an error with the line', () => {
    const bad: [string, string][] = [
      ['Prefixes:\n\t- 10.0.0.0/8', 'line 2: Tabs are not allowed'],
      ['- 10.0.0.0/8', 'line 1: expected "key: value" at the top level'],
      ['Prefixes:\n- a: b', 'line 2: items of "Prefixes" must be strings, found {"a":"b"}'],
      ['Prefixes:\n- [10.0.0.0/8]', 'line 2: items of "Prefixes" must be strings, found ["10.0.0.0/8"]'],
      ['Prefixes:\n- "10.0.0.0/8', 'line 2: Missing closing "quote'],
      ['Prefixes: 10.0.0.0/8', 'line 1: "Prefixes" must be a list of strings'],
      ['Prefixes: [10.0.0.0/8', 'line 1: '],
      ['Prefixes:\n-', 'line 2: items of "Prefixes" must be strings, found null'],
      ['Prefixes:\n  x: 1', 'line 2: "Prefixes" must be a list of strings'],
    ];
    for (const [text, msg] of bad) {
      expect(() => parseExcludedPrefixes(text), text).toThrow(YamlError);
      expect(() => parseExcludedPrefixes(text), text).toThrow(msg);
    }
  });

  it('entries that are not CIDRs are named', () => {
    expect(() => parseExcludedPrefixes('Prefixes:\n- 10.0.0.0/8\n- 10.0.0.1\n- true')).toThrow('not CIDRs: "10.0.0.1", "true"');
  });

  it('parseYamlStringList reads any key', () => {
    expect(parseYamlStringList('names:\n- a\n- b c', 'Names')).toEqual(['a', 'b c']);
  });

  it('the default path is upstream’s', () => {
    expect(EXCLUDED_PREFIXES_FILE).toBe('/var/lib/networkservicemesh/config/excluded_prefixes.yaml');
  });
});

describe('excludedPrefixesFile (real files)', () => {
  let dir: string;
  let file: string;
  let sub: Subscription | undefined;
  let seen: string[][];
  let errors: string[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nsm-rx-excl-'));
    file = join(dir, 'config', 'excluded_prefixes.yaml');
    seen = [];
    errors = [];
  });
  afterEach(async () => {
    sub?.unsubscribe();
    sub = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  const start = (debounce = 30) => {
    sub = excludedPrefixesFile({ path: file, debounce, onError: (e) => errors.push(e.message) }).subscribe((p) => seen.push(p));
  };
  const yaml = (...prefixes: string[]) => `Prefixes:\n${prefixes.map((p) => `- ${p}\n`).join('')}`;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; seen ${JSON.stringify(seen)}, errors ${JSON.stringify(errors)}`);
      await sleep(5);
    }
  }
  /** No emission beyond `n` during a quiet while (longer than the debounce). */
  const staysAt = async (n: number, ms = 200) => {
    await sleep(ms);
    expect(seen).toHaveLength(n);
  };

  it('no file at start: [] (and the directory is created, as upstream does)', async () => {
    start();
    await until(() => seen.length === 1, 'the first value');
    expect(seen).toEqual([[]]);
    expect(await readdir(join(dir, 'config'))).toEqual([]);
  });

  it('emits the current list at start, then every change; an unchanged rewrite emits nothing', async () => {
    await mkdir(join(dir, 'config'));
    await writeFile(file, yaml('10.244.0.0/16'));
    start();
    await until(() => seen.length === 1, 'the first value');
    expect(seen[0]).toEqual(['10.244.0.0/16']);

    await writeFile(file, yaml('10.244.0.0/16', '10.96.0.0/12'));
    await until(() => seen.length === 2, 'the change');
    expect(seen[1]).toEqual(['10.244.0.0/16', '10.96.0.0/12']);

    await writeFile(file, yaml('10.244.0.0/16', '10.96.0.0/12'));
    await staysAt(2);
  });

  it('atomic writes by rename, removal (→ []) and recreation', async () => {
    start();
    await until(() => seen.length === 1, 'the first value');
    // write a temp file and rename it over the target, as atomic writers do
    const tmp = join(dir, 'config', '.excluded_prefixes.yaml.tmp');
    await writeFile(tmp, yaml('10.0.0.0/8'));
    await rename(tmp, file);
    await until(() => seen.length === 2, 'the renamed file');
    expect(seen[1]).toEqual(['10.0.0.0/8']);

    await writeFile(tmp, yaml('10.0.0.0/8', 'fd00::/8'));
    await rename(tmp, file);
    await until(() => seen.length === 3, 'the second rename');
    expect(seen[2]).toEqual(['10.0.0.0/8', 'fd00::/8']);

    await unlink(file);
    await until(() => seen.length === 4, 'the removal');
    expect(seen[3]).toEqual([]);

    await writeFile(file, yaml('192.168.0.0/16'));
    await until(() => seen.length === 5, 'the recreation');
    expect(seen[4]).toEqual(['192.168.0.0/16']);
  });

  it('a ConfigMap-style symlink swap is seen', async () => {
    const config = join(dir, 'config');
    await mkdir(join(config, '..v1'), { recursive: true });
    await writeFile(join(config, '..v1', 'excluded_prefixes.yaml'), yaml('10.0.0.0/8'));
    await symlink('..v1', join(config, '..data'));
    await symlink('..data/excluded_prefixes.yaml', file);
    start();
    await until(() => seen.length === 1, 'the first value');
    expect(seen[0]).toEqual(['10.0.0.0/8']);

    await mkdir(join(config, '..v2'));
    await writeFile(join(config, '..v2', 'excluded_prefixes.yaml'), yaml('172.16.0.0/12'));
    await symlink('..v2', join(config, '..data_tmp'));
    await rename(join(config, '..data_tmp'), join(config, '..data'));
    await until(() => seen.length === 2, 'the swapped file');
    expect(seen[1]).toEqual(['172.16.0.0/12']);
  });

  it('invalid YAML keeps the last good value and reports; a fixed file is picked up', async () => {
    await mkdir(join(dir, 'config'));
    await writeFile(file, yaml('10.0.0.0/8'));
    start();
    await until(() => seen.length === 1, 'the first value');

    await writeFile(file, 'Prefixes:\n\t- oops\n');
    await until(() => errors.length === 1, 'the error');
    expect(errors[0]).toBe(`${file}: line 2: Tabs are not allowed as indentation`);
    await writeFile(file, yaml('10.0.0.0/8', 'not-a-cidr'));
    await until(() => errors.length === 2, 'the second error');
    expect(errors[1]).toContain('not CIDRs: "not-a-cidr"');
    await staysAt(1);

    await writeFile(file, yaml('10.1.0.0/16'));
    await until(() => seen.length === 2, 'the fixed file');
    expect(seen[1]).toEqual(['10.1.0.0/16']);
  });

  it('an invalid file at start gives [] and a report', async () => {
    await mkdir(join(dir, 'config'));
    await writeFile(file, 'Prefixes: [10.0.0.0/8');
    start();
    await until(() => seen.length === 1, 'the first value');
    expect(seen).toEqual([[]]);
    expect(errors[0]).toContain("line 1: Flow sequence in block collection must be sufficiently indented and end with a ]");
  });

  it('a burst of writes is read once, after it is quiet', async () => {
    start(250);
    await until(() => seen.length === 1, 'the first value');
    for (let i = 1; i <= 20; i++) await writeFile(file, yaml(`10.${i}.0.0/16`));
    await until(() => seen.length >= 2, 'the burst');
    await staysAt(2, 500);
    expect(seen[1]).toEqual(['10.20.0.0/16']);
  });

  it('after unsubscribe nothing more is emitted (the watcher is closed)', async () => {
    start();
    await until(() => seen.length === 1, 'the first value');
    sub!.unsubscribe();
    await writeFile(file, yaml('10.0.0.0/8'));
    await staysAt(1);
  });

  it('a directory that cannot be created: reports, emits [] and completes', async () => {
    await writeFile(join(dir, 'config'), 'a file where a directory should be');
    let completed = false;
    sub = excludedPrefixesFile({ path: join(dir, 'config', 'sub', 'excluded_prefixes.yaml'), debounce: 30, onError: (e) => errors.push(e.message) }).subscribe({
      next: (p) => seen.push(p),
      complete: () => (completed = true),
    });
    await until(() => completed, 'completion');
    expect(seen).toEqual([[]]);
    expect(errors.some((e) => e.includes('cannot watch'))).toBe(true);
  });
});

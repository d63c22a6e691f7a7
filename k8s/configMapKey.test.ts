import { describe, expect, it } from 'vitest';
import { marbles } from '../test/marbles.js';
import { defer, of, throwError } from 'rxjs';
import { KubeApiError } from './client.js';
import { applyWrites, configMapKeyWrites, type DesiredText } from './configMapKey.js';
import type { KubeObject } from './resource.js';

const key = 'excluded_prefixes_output.yaml';
const cm = (text: string | undefined): KubeObject => ({ metadata: { name: 'nsm-config', namespace: 'nsm-system' }, data: text === undefined ? {} : { [key]: text } });
const always =
  (text: string): DesiredText =>
  () =>
    text;

describe('configMapKeyWrites', () => {
  it('writes when the wish and the map disagree: at the start, on a new wish, after an edit or a deletion by someone else', () =>
    marbles(({ cold, expectObservable }) => {
      const desired = cold('a-------b----', { a: always('A'), b: always('B') });
      const configMap = cold('-x--a--y---bz', { x: cm(undefined), a: cm('A'), y: cm('edited'), b: cm('B'), z: undefined });
      expectObservable(configMapKeyWrites(desired, configMap, key)).toBe('-x-----yb---z', {
        x: { text: 'A', configMap: cm(undefined) },
        y: { text: 'A', configMap: cm('edited') },
        b: { text: 'B', configMap: cm('edited') },
        z: { text: 'B', configMap: undefined },
      });
    }));

  it('a wish that depends on the map (a soft merge) writes only when it says so', () =>
    marbles(({ cold, expectObservable }) => {
      // Adds `k: v` unless present; leaves everything else to others.
      const desired = cold<DesiredText>('d', { d: (current) => (current?.includes('k: v') ? undefined : `${current ?? ''}k: v\n`) });
      const configMap = cold('a-b-c', { a: undefined, b: cm('k: v\nother: 1\n'), c: cm('other: 2\n') });
      expectObservable(configMapKeyWrites(desired, configMap, key)).toBe('a---c', {
        a: { text: 'k: v\n', configMap: undefined },
        c: { text: 'other: 2\nk: v\n', configMap: cm('other: 2\n') },
      });
    }));
});

describe('applyWrites', () => {
  const unreachable = new KubeApiError(0, 'Unreachable', 'patch', 'configmaps', 'cannot patch configmaps in namespace nsm-system: unreachable');
  const exists = new KubeApiError(409, 'AlreadyExists', 'create', 'configmaps', 'cannot create configmaps in namespace nsm-system: already exists');

  it('a failed write is reported and tried again after 200, 400, … ms until it succeeds, without any new change', () =>
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const tries: number[] = [];
      const errors: string[] = [];
      const write = (w: string) => defer(() => (tries.push(scheduler.now()), tries.length < 4 ? throwError(() => unreachable) : of(w)));
      expectObservable(applyWrites(cold('a', { a: 'a' }), write, (e) => errors.push(e.message), scheduler)).toBe('');
      flush();
      expect(tries).toEqual([0, 200, 600, 1400]);
      expect(errors).toHaveLength(3);
    }));

  it('a newer write drops one still retrying; a conflict (created by someone else) ends it quietly', () =>
    marbles(({ cold, expectObservable, flush }, scheduler) => {
      const tries: string[] = [];
      const errors: string[] = [];
      const write = (w: string) => defer(() => (tries.push(`${w}@${scheduler.now()}`), w === 'a' ? throwError(() => unreachable) : w === 'c' ? throwError(() => exists) : of(w)));
      expectObservable(applyWrites(cold('a 299ms b 99ms c', { a: 'a', b: 'b', c: 'c' }), write, (e) => errors.push(e.message), scheduler)).toBe('');
      flush();
      expect(tries).toEqual(['a@0', 'a@200', 'b@300', 'c@400']);
      expect(errors).toHaveLength(2);
    }));
});

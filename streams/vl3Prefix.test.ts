import { describe, expect, it } from 'vitest';
import { Observable } from 'rxjs';
import { PrefixRequest, type PrefixResponse } from '../proto/gen/ipam.js';
import { marbles } from '../test/marbles.js';
import { vl3Prefix } from './vl3Prefix.js';

describe('vl3Prefix (a vl3 NSE’s hold on its prefix)', () => {
  it('asks once and holds; after the stream breaks it asks again for the prefix it had, 200 ms later', () => {
    marbles(({ cold, expectObservable }, scheduler) => {
      const asked: PrefixRequest[] = [];
      const streams = [cold<PrefixResponse>('-a---#', { a: { prefix: '10.0.0.0/24', excludePrefixes: [] } }), cold<PrefixResponse>('-b', { b: { prefix: '10.0.0.0/24', excludePrefixes: [] } })];
      const open = (requests: Observable<PrefixRequest>) =>
        new Observable<PrefixResponse>((subscriber) => {
          const sub = requests.subscribe((r) => asked.push(r));
          sub.add((streams.shift() as Observable<PrefixResponse>).subscribe(subscriber));
          return sub;
        });
      expectObservable(vl3Prefix(open, { scheduler, excludePrefixes: ['10.1.0.0/16'] }), '^ 400ms !').toBe('-a 204ms b', {
        a: { prefix: '10.0.0.0/24', excludePrefixes: [] },
        b: { prefix: '10.0.0.0/24', excludePrefixes: [] },
      });
      scheduler.flush();
      expect(asked.map((r) => [r.prefix, r.excludePrefixes])).toEqual([
        ['', ['10.1.0.0/16']],
        ['10.0.0.0/24', ['10.1.0.0/16']],
      ]);
    });
  });
});

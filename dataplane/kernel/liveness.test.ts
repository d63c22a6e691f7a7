import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { marbles } from '../../test/marbles.js';
import { kernelLivenessCheck } from './liveness.js';

const conn = (src: string, dst: string) => Connection.fromPartial({ id: 'c', context: { ipContext: { srcIpAddrs: [`${src}/32`], dstIpAddrs: [`${dst}/32`] } } });

describe('kernelLivenessCheck', () => {
  it('a check is the pair’s next reply; one prober serves the checks that follow each other, and stops a timeout after the last', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const replies = cold<void>('--r--r--r--r--r--r--r--r--r--r');
      const check = kernelLivenessCheck({ timeout: 10, scheduler, replies: () => replies });
      const c = conn('169.254.0.1', '169.254.0.0');
      expectObservable(check(c)).toBe('--(t|)', { t: true });
      scheduler.schedule(() => expectObservable(check(c)).toBe('-----(t|)', { t: true }), 4); // the same prober: its next reply at 5
      // The last check let go at 5: the prober stops at 15.
      expectSubscriptions(replies.subscriptions).toBe('^--------------!');
    });
  });

  it('a pair silent for the timeout is dead; a prober that fails (ping exits) is dead and is started anew by the next check', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }, scheduler) => {
      const silent = cold<void>('-');
      const failing = cold<void>('---#');
      const check = kernelLivenessCheck({ timeout: 5, scheduler, replies: (_src, dst) => (dst === '169.254.0.0' ? silent : failing) });
      expectObservable(check(conn('169.254.0.1', '169.254.0.0'))).toBe('-----(f|)', { f: false });
      expectObservable(check(conn('169.254.0.3', '169.254.0.2'))).toBe('---(f|)', { f: false });
      scheduler.schedule(() => expectObservable(check(conn('169.254.0.3', '169.254.0.2'))).toBe('-------------(f|)', { f: false }), 10);
      expectSubscriptions(failing.subscriptions).toBe(['^--!', '----------^--!']);
    });
  });

  it('a connection without addresses is alive, and nothing is probed', () => {
    const check = kernelLivenessCheck({ replies: () => { throw new Error('probed'); } });
    let answer: boolean | undefined;
    check(Connection.fromPartial({ id: 'none' })).subscribe((up) => (answer = up));
    expect(answer).toBe(true);
  });
});
